"""genaug.stats against scipy and hand-worked examples."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from genaug import stats as S
from genaug.errors import GenaugError

A = np.array([0.61, 0.58, 0.66, 0.70, 0.63, 0.59, 0.68, 0.64])
B = np.array([0.55, 0.57, 0.60, 0.62, 0.58, 0.61, 0.59, 0.56])
C = np.array([0.52, 0.49, 0.57, 0.55, 0.60])  # different length, for Welch


# --------------------------------------------------------------------------- mean_ci
def test_mean_ci_matches_scipy_t_interval():
    m, lo, hi = S.mean_ci(A, 0.95)
    ref = st.t.interval(0.95, len(A) - 1, loc=A.mean(), scale=st.sem(A))
    assert m == pytest.approx(A.mean())
    assert (lo, hi) == pytest.approx(ref, rel=1e-12)
    _, lo90, hi90 = S.mean_ci(A, 0.90)
    assert (lo90, hi90) == pytest.approx(
        st.t.interval(0.90, len(A) - 1, loc=A.mean(), scale=st.sem(A))
    )


def test_mean_ci_small_and_degenerate():
    m, lo, hi = S.mean_ci([0.7])
    assert m == 0.7 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in S.mean_ci([]))
    assert S.mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert S.mean_ci([0.5, np.nan, 0.7])[0] == pytest.approx(0.6)  # NaN dropped
    with pytest.raises(ValueError):
        S.mean_ci(A, 95)


# --------------------------------------------------------------------------- t-tests
@pytest.mark.parametrize("b", [B, C])
def test_welch_matches_scipy(b):
    r = S.welch_ttest(A, b)
    ref = st.ttest_ind(A, b, equal_var=False)
    ref_g = st.ttest_ind(A, b, equal_var=False, alternative="greater")
    assert r.t == pytest.approx(ref.statistic, rel=1e-12)
    assert r.df == pytest.approx(ref.df, rel=1e-12)
    assert r.p_two_sided == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.p_greater == pytest.approx(ref_g.pvalue, rel=1e-9)
    assert r.diff == pytest.approx(A.mean() - b.mean())
    ci = ref.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    # swapped: H1 a > b becomes the "less" alternative
    r2 = S.welch_ttest(b, A)
    assert r2.p_greater == pytest.approx(
        st.ttest_ind(b, A, equal_var=False, alternative="greater").pvalue, rel=1e-9
    )
    assert r2.p_greater == pytest.approx(1 - r.p_greater, rel=1e-9)


def test_paired_matches_scipy():
    r = S.paired_ttest(A, B)
    ref = st.ttest_rel(A, B)
    assert r.t == pytest.approx(ref.statistic, rel=1e-12)
    assert r.df == ref.df == len(A) - 1
    assert r.p_two_sided == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.p_greater == pytest.approx(st.ttest_rel(A, B, alternative="greater").pvalue, rel=1e-9)
    assert S.paired_ttest(B, A).p_greater == pytest.approx(
        st.ttest_rel(B, A, alternative="greater").pvalue, rel=1e-9
    )
    for conf in (0.95, 0.99):
        ci = ref.confidence_interval(conf)
        r = S.paired_ttest(A, B, confidence=conf)
        assert (r.ci_low, r.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    d = A - B
    assert (r.ci_low, r.ci_high) == pytest.approx(
        st.t.interval(0.99, len(d) - 1, loc=d.mean(), scale=st.sem(d))
    )


def test_paired_requires_alignment():
    with pytest.raises(ValueError):
        S.paired_ttest(A, B[:-1])
    with pytest.raises(ValueError):
        S.cohens_dz(A, B[:-1])
    a = pd.Series(A, index=range(8))
    b = pd.Series(B, index=range(8))
    with pytest.raises(ValueError):
        S.paired_ttest(a, pd.Series(B, index=range(1, 9)))
    # Series pair by label, whatever the order
    shuffled = b.sample(frac=1.0, random_state=0)
    assert S.paired_ttest(a, shuffled) == S.paired_ttest(A, B)


def test_paired_drops_nan_pairs():
    a = np.append(A, [np.nan, 0.9])
    b = np.append(B, [0.5, np.nan])
    assert S.paired_ttest(a, b) == S.paired_ttest(A, B)


def test_degenerate_inputs_are_nan_without_warnings():
    same = np.full(5, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = S.welch_ttest(same, same)
        assert math.isnan(w.t) and math.isnan(w.p_two_sided) and math.isnan(w.p_greater)
        assert w.diff == 0 and w.ci_low == w.ci_high == 0
        w = S.welch_ttest(same + 0.1, same)  # x/0: NaN, not t=inf, p=0
        assert math.isnan(w.t) and math.isnan(w.p_greater)
        assert w.diff == pytest.approx(0.1)
        p = S.paired_ttest(same, same)
        assert math.isnan(p.t) and math.isnan(p.p_two_sided) and p.df == 4
        # constant differences up to float noise count as zero spread
        x = np.array([0.72, 0.52, 0.93, 0.61])
        p = S.paired_ttest(x, x - 0.02)
        assert math.isnan(p.t) and p.diff == pytest.approx(0.02)
        assert math.isnan(S.hedges_g(same, same))
        assert math.isnan(S.cohens_dz(same, same))
        one = S.welch_ttest([0.5], B)
        assert math.isnan(one.t) and one.diff == pytest.approx(0.5 - B.mean())
        assert math.isnan(S.paired_ttest([0.5], [0.4]).t)
        # one sample constant, the other not: still a proper Welch test (df = n_b - 1)
        w = S.welch_ttest(same, B[:5])
        assert w.df == pytest.approx(4) and np.isfinite(w.p_two_sided)


# --------------------------------------------------------------------------- effect sizes
def test_hedges_g_known_example():
    a = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, var 2.5
    b = [3.0, 4.0, 5.0, 6.0, 7.0]  # mean 5, var 2.5
    # d = -2 / sqrt(2.5) = -1.26491; J (m = 8) = Gamma(4) / (2 Gamma(3.5)) = 0.902703
    j = math.gamma(4) / (math.sqrt(4) * math.gamma(3.5))
    assert S.hedges_g(a, b) == pytest.approx(j * -2 / math.sqrt(2.5), rel=1e-12)
    assert S.hedges_g(a, b) == pytest.approx(-1.14184, abs=1e-5)
    # close to the common approximation J = 1 - 3 / (4 m - 1)
    assert S.hedges_g(a, b) == pytest.approx((1 - 3 / 31) * -2 / math.sqrt(2.5), rel=1e-3)
    assert S.hedges_g(b, a) == pytest.approx(-S.hedges_g(a, b))


def test_cohens_dz_is_t_over_sqrt_n():
    t = st.ttest_rel(A, B).statistic
    assert S.cohens_dz(A, B) == pytest.approx(t / math.sqrt(len(A)))
    d = A - B
    assert S.cohens_dz(A, B) == pytest.approx(d.mean() / d.std(ddof=1))


# --------------------------------------------------------------------------- Holm
@pytest.mark.parametrize(
    "p, expected",
    [
        # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> max-accumulated 0.06
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        # sorted: 0.001*5=0.005, 0.01*4=0.04, 0.012*3=0.036 -> 0.04, 0.2*2=0.4, 0.7*1=0.7
        ([0.2, 0.012, 0.7, 0.001, 0.01], [0.4, 0.04, 0.7, 0.005, 0.04]),
        # sorted: 0.3*3=0.9, 0.4*2=0.8 -> 0.9, 0.9*1=0.9
        ([0.9, 0.3, 0.4], [0.9, 0.9, 0.9]),
    ],
)
def test_holm_hand_worked(p, expected):
    np.testing.assert_allclose(S.holm(p), expected, rtol=1e-12)


def test_holm_nan_cap_and_monotone():
    adj = S.holm([0.01, np.nan, 0.04, 0.03, np.nan, 0.005])
    np.testing.assert_allclose(adj, [0.03, np.nan, 0.06, 0.06, np.nan, 0.02])
    np.testing.assert_allclose(S.holm([0.5, 0.6, 0.01]), [1.0, 1.0, 0.03])
    assert np.isnan(S.holm([np.nan, np.nan])).all()
    assert S.holm([]).shape == (0,)
    rng = np.random.default_rng(1)
    p = rng.uniform(size=20)
    adj = S.holm(p)
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0) and np.all(adj >= p) and np.all(adj <= 1)
    with pytest.raises(ValueError):
        S.holm([0.5, 1.5])


# --------------------------------------------------------------------------- compare / describe
def _runs(n_rep: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for k in (1, 5):
        for rep in range(n_rep):
            base = 0.4 + 0.1 * k / 5 + 0.06 * rng.standard_normal()  # large between-rep spread
            rows.append(("none", k, rep, base))
            rows.append(("good", k, rep, base + 0.05 + 0.01 * rng.standard_normal()))
            rows.append(("same", k, rep, base))
    df = pd.DataFrame(rows, columns=["method", "k", "replicate", "accuracy"])
    df["extra"] = "x"
    return df


def test_compare_clear_winner_and_null():
    runs = _runs()
    table = S.compare(runs)
    assert list(table.columns) == S.COMPARE_COLUMNS
    assert list(zip(table["method"], table["k"], strict=True)) == [
        ("good", 1),
        ("good", 5),
        ("same", 1),
        ("same", 5),
    ]
    assert (table["n"] == 8).all()
    good = table[table["method"] == "good"]
    assert (good["p_one_sided"] < 1e-4).all()
    assert (good["confidence_better"] > 0.99).all()
    assert good["significant"].all()
    assert (good["diff"] > 0.03).all() and (good["diff_ci_low"] > 0).all()
    same = table[table["method"] == "same"]
    assert not same["significant"].any()
    assert (same["diff"] == 0).all()
    # Holm over the rows with a p-value (the 'same' rows are NaN: zero-variance differences)
    np.testing.assert_allclose(table["p_holm"], S.holm(table["p_one_sided"]))
    assert table.loc[0, "p_holm"] == pytest.approx(min(1, 2 * table.loc[0, "p_one_sided"]))
    # numbers agree with scipy on one cell
    sub = runs[runs["k"] == 5].pivot(index="replicate", columns="method", values="accuracy")
    ref = st.ttest_rel(sub["good"], sub["none"], alternative="greater")
    row = table[(table["method"] == "good") & (table["k"] == 5)].iloc[0]
    assert row["p_one_sided"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert row["welch_p"] == pytest.approx(
        st.ttest_ind(sub["good"], sub["none"], equal_var=False).pvalue, rel=1e-9
    )
    assert row["baseline_mean"] == pytest.approx(sub["none"].mean())
    assert row["mean"] == pytest.approx(sub["good"].mean())
    # the paired test sees what Welch misses under large between-replicate spread
    assert row["paired_p"] < row["welch_p"]


def test_compare_pairs_by_replicate_not_row_order():
    runs = _runs()
    ordered = S.compare(runs)
    shuffled = S.compare(runs.sample(frac=1.0, random_state=3).reset_index(drop=True))
    pd.testing.assert_frame_equal(ordered, shuffled)
    # a missing baseline replicate drops that pair (inner join)
    drop = (runs["method"] == "none") & (runs["k"] == 1) & (runs["replicate"] == 0)
    t = S.compare(runs[~drop])
    assert t.set_index(["method", "k"])["n"].to_dict() == {
        ("good", 1): 7,
        ("good", 5): 8,
        ("same", 1): 7,
        ("same", 5): 8,
    }


def test_compare_degenerate_and_errors():
    rows = [(m, k, r, 0.1) for m in ("none", "dagan") for k in (1, 5) for r in range(4)]
    runs = pd.DataFrame(rows, columns=["method", "k", "replicate", "accuracy"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = S.compare(runs)
    assert len(table) == 2
    assert table["p_one_sided"].isna().all() and not table["significant"].any()
    assert (table["ci_low"] == table["ci_high"]).all()  # se = 0: the CI is the point
    with pytest.raises(GenaugError):
        S.compare(runs, baseline="nothing")
    with pytest.raises(GenaugError):
        S.compare(runs, metric="loss")
    with pytest.raises(GenaugError):
        S.compare(pd.concat([runs, runs.iloc[:1]]))
    with pytest.raises(GenaugError, match="outside its range"):
        S.compare(runs.assign(accuracy=runs["accuracy"] * 20))
    # only the baseline: an empty table
    empty = S.compare(runs[runs["method"] == "none"])
    assert empty.empty and list(empty.columns) == S.COMPARE_COLUMNS


def test_describe():
    runs = _runs()
    d = S.describe(runs)
    assert list(d.columns) == S.DESCRIBE_COLUMNS
    assert set(d["method"]) == {"none", "good", "same"} and len(d) == 6
    g = runs[(runs["method"] == "good") & (runs["k"] == 1)]["accuracy"]
    row = d[(d["method"] == "good") & (d["k"] == 1)].iloc[0]
    assert row["n"] == 8 and row["std"] == pytest.approx(g.std(ddof=1))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        st.t.interval(0.95, 7, loc=g.mean(), scale=st.sem(g))
    )


# --------------------------------------------------------------------------- bounded metrics
# a minority F1 over four replicates, whose t-interval leaves [0, 1]
F1 = np.array([0.0, 0.0, 0.9, 1.0])


def test_mean_ci_of_a_bounded_metric_is_clipped():
    raw = st.t.interval(0.95, 3, loc=F1.mean(), scale=st.sem(F1))
    assert raw[0] < 0 and raw[1] > 1  # what was clipped
    assert S.mean_ci(F1, bounds=(0.0, 1.0)) == (pytest.approx(F1.mean()), 0.0, 1.0)
    m, lo, hi = S.mean_ci(F1 / 4, bounds=(0.0, 1.0))  # low end clipped only
    assert lo == 0.0 and hi == pytest.approx(m + (raw[1] - F1.mean()) / 4)
    assert S.mean_ci(F1)[1:] == pytest.approx(raw)  # no bounds: the plain t-interval


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_compare_and_describe_keep_bounded_intervals_inside(confidence):
    rows = [("none", 0.1, r, v) for r, v in enumerate([1.0, 0.9, 0.0, 0.0])]
    rows += [("dagan", 0.1, r, v) for r, v in enumerate(F1)]
    rows += [("none", 0.5, r, v) for r, v in enumerate([0.2, 0.95, 0.5, 0.6])]
    rows += [("dagan", 0.5, r, v) for r, v in enumerate([0.0, 0.99, 0.98, 0.97])]
    runs = pd.DataFrame(rows, columns=["method", "fraction", "replicate", "minority_f1"])
    table = S.compare(runs, "minority_f1", confidence=confidence, by="fraction")
    assert table.attrs["bounds"] == (0.0, 1.0)
    assert ((table["ci_low"] >= 0) & (table["ci_high"] <= 1)).all()
    assert ((table["diff_ci_low"] >= -1) & (table["diff_ci_high"] <= 1)).all()
    assert (table["diff_ci_low"] == -1).any() and (table["diff_ci_high"] == 1).any()  # clipped
    d = S.describe(runs, "minority_f1", confidence, by="fraction")
    assert ((d["ci_low"] >= 0) & (d["ci_high"] <= 1)).all() and (d["ci_low"] == 0).any()
    # an explicit range overrides the known one; a metric not known is unbounded
    wide = S.compare(runs, "minority_f1", confidence=confidence, by="fraction", bounds=(-9, 9))
    assert (wide["diff_ci_low"] < -1).any()
    other = S.describe(
        runs.rename(columns={"minority_f1": "score"}), "score", confidence, "fraction"
    )
    assert other.attrs["bounds"] is None and (other["ci_low"] < 0).any()


def test_every_reported_metric_is_bounded():
    from genaug.metrics import classification_metrics

    y = np.array([0, 1, 1, 2])
    reported = classification_metrics(y, y, np.eye(3)[y], minority=1)
    assert set(reported) == set(S.METRIC_BOUNDS)
    assert all(lo <= reported[m] <= hi for m, (lo, hi) in S.METRIC_BOUNDS.items())


# --------------------------------------------------------------------------- direction
def test_one_sided_p_points_towards_better():
    runs = _runs()
    good = runs[runs["method"] == "good"].reset_index(drop=True)
    none = runs[runs["method"] == "none"].reset_index(drop=True)  # same (k, replicate) order
    worse = good.assign(method="worse", accuracy=2 * none["accuracy"] - good["accuracy"])
    table = S.compare(pd.concat([runs, worse])).set_index(["method", "k"])
    good, bad = table.loc["good"], table.loc["worse"]
    assert (good["p_one_sided"] < 1e-4).all() and (bad["p_one_sided"] > 1 - 1e-4).all()
    assert (bad["confidence_better"] < 1e-4).all() and not bad["significant"].any()
    # mirror images: same two-sided p, one-sided p's that add up to one, opposite t
    np.testing.assert_allclose(good["paired_p"], bad["paired_p"], rtol=1e-9)
    np.testing.assert_allclose(good["p_one_sided"] + bad["p_one_sided"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(good["paired_t"], -bad["paired_t"], rtol=1e-9)


# --------------------------------------------------------------------------- power, equivalence
def test_detectable_dz_falls_with_n_and_matches_statsmodels():
    from statsmodels.stats.power import TTestPower

    alpha = 0.05 / 22
    at4, at40 = S.detectable_dz(4, alpha), S.detectable_dz(40, alpha)
    assert at40 < at4 / 5
    for n, dz in [(4, at4), (40, at40)]:
        assert dz == pytest.approx(
            TTestPower().solve_power(nobs=n, alpha=alpha, power=0.8, alternative="larger")
        )
        # the definition: a true effect of that size is found 80 % of the time
        assert TTestPower().power(dz, n, alpha, alternative="larger") == pytest.approx(0.8)
    assert S.detectable_dz(40, 0.05, power=0.9) > S.detectable_dz(40, 0.05)
    assert math.isnan(S.detectable_dz(1, alpha)) and math.isnan(S.detectable_dz(0, alpha))
    with pytest.raises(ValueError, match="power"):
        S.detectable_dz(4, 0.05, power=0.01)


@pytest.mark.parametrize(
    "dz, alpha, needed",
    [
        # the textbook (G*Power) sample sizes of a one-sided paired t-test at 80 % power
        (1.0, 0.05, 8),
        (0.5, 0.05, 27),
        (0.5, 0.05 / 22, 59),  # 58.19 rounded up
        (0.0, 0.05, math.inf),  # no gain: no number of replicates shows one
        (-0.5, 0.05, math.inf),
        (1e-16, 0.05, math.inf),  # the solver gives up
    ],
)
def test_replicates_needed_known_answers(dz, alpha, needed):
    assert S.replicates_needed(dz, alpha) == needed


def test_replicates_needed_is_the_first_n_with_enough_power():
    from statsmodels.stats.power import TTestPower

    n = S.replicates_needed(0.8, 0.01)
    power = TTestPower().power
    assert power(0.8, n, 0.01, alternative="larger") >= 0.8
    assert power(0.8, n - 1, 0.01, alternative="larger") < 0.8
    assert math.isnan(S.replicates_needed(math.nan, 0.05))


def test_tost_equivalence_of_near_identical_not_shifted_samples():
    rng = np.random.default_rng(2)
    base = 0.6 + 0.05 * rng.standard_normal(8)
    near = base + 0.003 * rng.standard_normal(8)
    p = S.paired_tost(near, base, 0.02)
    assert p < 1e-4
    # the same as two one-sided t-tests of the differences against -margin and +margin
    d = near - base
    lower = st.ttest_1samp(d, -0.02, alternative="greater").pvalue
    upper = st.ttest_1samp(d, 0.02, alternative="less").pvalue
    assert p == pytest.approx(max(lower, upper), rel=1e-9)
    assert S.paired_tost(near + 0.05, base, 0.02) > 0.99  # shifted by 5 points
    assert S.paired_tost(near + 0.05, base, 0.1) < 0.05  # ... but within a 10-point margin
    assert math.isnan(S.paired_tost(base, base, 0.02))  # zero spread
    assert math.isnan(S.paired_tost(base[:1], base[:1] + 0.1, 0.02))
    with pytest.raises(ValueError, match="margin"):
        S.paired_tost(near, base, 0.0)


def _differences(spec: dict[str, tuple[float, float, int]]) -> pd.DataFrame:
    """Runs whose paired differences from ``none`` have exactly the mean and SD of
    ``spec[method] = (mean, sd, n)``, over a baseline with a large between-replicate spread."""
    rng = np.random.default_rng(5)
    base = 0.5 + 0.1 * np.tanh(rng.standard_normal(40))
    rows = [("none", 1, r, v) for r, v in enumerate(base)]
    for method, (mean, sd, n) in spec.items():
        z = rng.standard_normal(n)
        z = (z - z.mean()) / z.std(ddof=1) if n > 1 else z * 0
        rows += [(method, 1, r, base[r] + mean + sd * z[r]) for r in range(n)]
    return pd.DataFrame(rows, columns=["method", "k", "replicate", "accuracy"])


VERDICT_CASES = {
    "gain": ((0.10, 0.01, 8), "better"),
    "loss": ((-0.10, 0.01, 8), "worse"),
    "level": ((0.0, 0.005, 8), "no meaningful difference"),
    "fewseeds": ((0.01, 0.05, 4), "inconclusive: too few replicates"),
    "oneseed": ((0.05, 0.0, 1), "inconclusive: too few replicates"),
    "flat": ((0.0, 0.0, 8), "n/a: zero spread"),
    "atmargin": ((0.01, 0.03, 40), "inconclusive"),
}


def test_verdicts_of_constructed_tables():
    table = S.compare(_differences({m: spec for m, (spec, _) in VERDICT_CASES.items()}))
    rows = table.set_index("method")
    assert rows["verdict"].to_dict() == {m: verdict for m, (_, verdict) in VERDICT_CASES.items()}
    assert set(rows["verdict"]) == set(S.VERDICTS)
    assert list(rows.index[rows["equivalent"]]) == ["level"]
    m = 5  # rows with a p-value: all but oneseed and flat
    assert table.attrs["power_alpha"] == pytest.approx(0.05 / m)
    # worse is the Holm-corrected two-sided p, Holm over the same rows
    np.testing.assert_allclose(rows["paired_p_holm"], S.holm(rows["paired_p"]))
    assert rows.loc["loss", "p_holm"] == pytest.approx(1.0)
    # MDE: the statsmodels d_z at alpha / m, times the (constructed) SD of the differences
    for method in ("fewseeds", "atmargin"):
        (_, sd, n), _ = VERDICT_CASES[method]
        assert rows.loc[method, "mde_dz"] == pytest.approx(S.detectable_dz(n, 0.05 / m))
        assert rows.loc[method, "mde"] == pytest.approx(rows.loc[method, "mde_dz"] * sd)
    assert rows.loc["fewseeds", "mde"] > 0.02 >= rows.loc["atmargin", "mde"]
    assert rows.loc["fewseeds", "mde_dz"] > 5 * rows.loc["atmargin", "mde_dz"]  # n = 4 vs 40
    assert math.isnan(rows.loc["flat", "mde"]) and math.isnan(rows.loc["oneseed", "mde_dz"])
    # replicates needed for the observed d_z (1/3 at 'atmargin'), a whole number
    assert rows.loc["atmargin", "n_needed"] == S.replicates_needed(1 / 3, 0.05 / m)
    assert rows.loc["loss", "n_needed"] == math.inf
    assert math.isnan(rows.loc["flat", "n_needed"])
    # the few seeds do show that the difference lies within +-30 points
    wide = S.compare(_differences({"fewseeds": VERDICT_CASES["fewseeds"][0]}), margin=0.3)
    assert wide.attrs["margin"] == 0.3 and wide.loc[0, "verdict"] == "no meaningful difference"


def combo_runs() -> pd.DataFrame:
    """none, classical (+10 pp) and dagan+classical: classical plus zero-mean noise."""
    runs = _differences({"classical": (0.10, 0.01, 8)})
    alone = runs[runs["method"] == "classical"]
    z = np.resize([1.0, -1.0], len(alone)) * 0.002  # mean 0, a little spread
    combo = alone.assign(method="dagan+classical", accuracy=alone["accuracy"] + z)
    return pd.concat([runs, combo], ignore_index=True)


def test_a_combination_is_also_compared_with_its_transform():
    """dagan+classical equal to classical up to zero-mean noise: a gain against none, no
    meaningful difference against classical, each baseline its own Holm family."""
    comparisons, tables, _ = S.scenario_statistics(combo_runs(), ["accuracy"], "k")
    assert list(tables) == [("accuracy", "none"), ("accuracy", "classical")]
    assert list(comparisons.columns[:4]) == ["metric", "baseline", "method", "k"]
    verdicts = {(r.baseline, r.method): r.verdict for r in comparisons.itertuples()}
    assert verdicts == {
        ("none", "classical"): "better",
        ("none", "dagan+classical"): "better",
        ("classical", "dagan+classical"): "no meaningful difference",
    }
    on_top = tables["accuracy", "classical"]
    assert on_top["diff"].abs().max() < 1e-12 and on_top["n"].tolist() == [8]
    assert on_top["p_holm"].equals(on_top["p_one_sided"])  # a family of one
    assert tables["accuracy", "none"]["method"].tolist() == ["classical", "dagan+classical"]


def test_generators_are_also_compared_with_a_strong_baseline():
    """With ``against``: every method that uses a generator (a combination counts) is also
    compared with the strong baseline, its own Holm family; a transform that is not one keeps
    only its combinations; a strong baseline that did not run (oversample), or ``none``, adds
    no family."""
    runs = combo_runs()
    runs = pd.concat(
        [runs, *(runs[runs["method"] == "classical"].assign(method=m) for m in ("dagan", "cvae"))]
    )
    _, tables, _ = S.scenario_statistics(
        runs, ["accuracy"], "k", against=["oversample", "none"], generators=["dagan"]
    )
    assert list(tables) == [("accuracy", "none"), ("accuracy", "classical")]
    assert tables["accuracy", "classical"]["method"].tolist() == ["dagan+classical"]
    comparisons, tables, _ = S.scenario_statistics(
        runs, ["accuracy"], "k", against=["classical"], generators=["dagan"]
    )
    strong = tables["accuracy", "classical"]
    assert strong["method"].tolist() == ["dagan", "dagan+classical"]  # not cvae: no generator
    np.testing.assert_allclose(strong["p_holm"], S.holm(strong["p_one_sided"]))
    assert set(strong["verdict"]) == {"no meaningful difference", "n/a: zero spread"}
    assert (comparisons["baseline"] == "classical").sum() == 2
