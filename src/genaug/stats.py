"""Does a method beat the baseline? t-tests, effect sizes, Holm correction and the tables of
one scenario.

The statistics come from libraries: t-tests with their p-values and confidence intervals from
scipy.stats (``ttest_1samp``, ``ttest_rel``, ``ttest_ind(equal_var=False)``, each with
``alternative=`` and ``.confidence_interval()``), the Holm correction from statsmodels'
``multipletests``, the power analysis from statsmodels' ``TTestPower.solve_power`` and the
equivalence test from statsmodels' ``ttost_paired``.  Written here by hand is only what no library
does for us: the conventions below, Hedges' g and Cohen's d_z (see why in their docstrings),
clipping intervals to a metric's range, pairing the runs by replicate into tables, and the
verdict of a comparison (:func:`compare`).  The Markdown rendering of the tables is
:func:`genaug.report.to_markdown`.

Conventions shared by every function:

* Inputs are 1-D array-likes of floats.  NaN entries are dropped (for the paired test: every pair
  in which either value is NaN), the way ``nan_policy="omit"`` does in scipy.
* A statistic that is undefined comes back as NaN, never as a made-up number:
  fewer than two values (no sample variance), or a standard error of exactly zero.  The second
  case happens with degenerate data, e.g. every run reaching the same accuracy; the t statistic
  is then 0/0 or x/0.  scipy reports x/0 as t = +-inf, p = 0, but a handful of seeds that happen to
  agree exactly is not infinite evidence, so we report NaN t and p instead (and ``compare`` marks
  such a row as not significant).  Confidence intervals are still given when the standard error
  is zero: any quantile times a zero standard error is zero, so the interval collapses to the
  point estimate.
* A standard deviation counts as zero when it is below ``1e-12`` times the data's scale, so that
  floating-point noise in differences such as ``0.72 - 0.70`` vs ``0.52 - 0.50`` does not turn into
  a t statistic of 1e15.
* Intervals of a bounded metric (``METRIC_BOUNDS``: every metric genaug.metrics reports lies in
  [0, 1]) are clipped to its range, and intervals of a difference of two such values to
  [lo - hi, hi - lo].  The true value lies in the range, so clipping removes only impossible
  values and leaves the coverage of the t-interval exactly as it was.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from genaug.errors import GenaugError
from genaug.methods import base_method, combos_on, split_combo

__all__ = [
    "COMPARE_COLUMNS",
    "DEFAULT_MARGIN",
    "DESCRIBE_COLUMNS",
    "METRIC_BOUNDS",
    "POWER",
    "VERDICTS",
    "TTest",
    "compare",
    "cohens_dz",
    "describe",
    "detectable_dz",
    "hedges_g",
    "holm",
    "mean_ci",
    "paired_tost",
    "paired_ttest",
    "replicates_needed",
    "scenario_statistics",
    "welch_ttest",
]

_ZERO_RTOL = 1e-12
NAN = float("nan")

COMPARE_COLUMNS = [
    "method",
    "k",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "baseline_mean",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "welch_t",
    "welch_df",
    "welch_p",
    "paired_t",
    "paired_df",
    "paired_p",
    "p_one_sided",
    "confidence_better",
    "hedges_g",
    "cohens_dz",
    "p_holm",
    "significant",
    "paired_p_holm",
    "mde_dz",
    "mde",
    "n_needed",
    "tost_p",
    "tost_p_holm",
    "equivalent",
    "verdict",
]
#: the power at which :func:`compare` reports the minimal detectable effect and the replicates
#: needed
POWER = 0.8
#: the default equivalence margin (config ``stats.equivalence_margin``), in the metric's units:
#: +-2 percentage points of a metric in [0, 1]
DEFAULT_MARGIN = 0.02
#: the verdicts of :func:`compare`, in the order its rule tries them
VERDICTS = (
    "better",
    "worse",
    "no meaningful difference",
    "inconclusive: too few replicates",
    "n/a: zero spread",
    "inconclusive",
)
DESCRIBE_COLUMNS = ["method", "k", "n", "mean", "std", "ci_low", "ci_high"]
#: the range of each metric genaug.metrics.classification_metrics reports (all are rates or an
#: AUROC); intervals of these metrics are clipped to it
METRIC_BOUNDS: Mapping[str, tuple[float, float]] = {
    metric: (0.0, 1.0)
    for metric in (
        "accuracy",
        "balanced_accuracy",
        "minority_recall",
        "minority_precision",
        "minority_f1",
        "minority_auroc",
    )
}

Bounds = tuple[float, float] | None


# --------------------------------------------------------------------------- helpers
def _clean(x, name: str = "x") -> np.ndarray:
    """1-D float array with NaNs removed."""
    arr = np.atleast_1d(np.asarray(x, dtype=float))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr[~np.isnan(arr)]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size else NAN


def _sd(x: np.ndarray) -> float:
    """Sample standard deviation (ddof = 1); NaN for fewer than two values."""
    return float(np.std(x, ddof=1)) if x.size >= 2 else NAN


def _is_zero(sd: float, *samples: np.ndarray) -> bool:
    """Is a standard deviation zero up to floating-point noise of the data's magnitude?"""
    scale = max([1.0] + [float(np.max(np.abs(s))) for s in samples if s.size])
    return sd <= _ZERO_RTOL * scale


def _clip(low: float, high: float, bounds: Bounds) -> tuple[float, float]:
    """An interval cut to ``bounds`` (NaN ends stay NaN)."""
    if bounds is None:
        return low, high
    return float(np.clip(low, *bounds)), float(np.clip(high, *bounds))


def _difference_bounds(bounds: Bounds) -> Bounds:
    """The range of a difference of two values that each lie in ``bounds``."""
    if bounds is None:
        return None
    width = bounds[1] - bounds[0]
    return -width, width


# --------------------------------------------------------------------------- one sample
def mean_ci(x, confidence: float = 0.95, bounds: Bounds = None) -> tuple[float, float, float]:
    """Mean and its t-based confidence interval (scipy's ``ttest_1samp(...).confidence_interval``:
    mean +- t_{(1+c)/2, n-1} * s / sqrt(n)), clipped to ``bounds`` if given.

    n = 0 gives three NaNs; n = 1 gives the value and NaN bounds; zero spread gives
    ``(mean, mean, mean)``.
    """
    _check_confidence(confidence)
    x = _clean(x)
    m = _mean(x)
    if x.size < 2:
        return m, NAN, NAN
    if _is_zero(_sd(x), x):
        return m, m, m
    ci = st.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return (m, *_clip(float(ci.low), float(ci.high), bounds))


# --------------------------------------------------------------------------- two samples
@dataclass(frozen=True)
class TTest:
    """Result of a two-sample t-test of mean(a) - mean(b).

    ``p_greater`` is the one-sided p-value for H1: mean(a) > mean(b) (paired: mean(a - b) > 0).
    ``ci_low``/``ci_high`` bound the difference ``diff`` at the requested confidence (two-sided).
    """

    t: float
    df: float
    p_two_sided: float
    p_greater: float
    diff: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _scipy_ttest(test: Callable, a, b, diff: float, confidence: float, **kw) -> TTest:
    """A scipy.stats t-test of a against b: two-sided (t, df, p, CI) and one-sided 'greater' (p)."""
    with warnings.catch_warnings():
        # scipy warns when a sample is (nearly) constant; the callers have already turned a zero
        # standard error into NaN, so at most one Welch sample is constant here, which is fine
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        two = test(a, b, **kw)
        greater = test(a, b, alternative="greater", **kw)
    ci = two.confidence_interval(confidence)
    return TTest(
        float(two.statistic),
        float(two.df),
        float(two.pvalue),
        float(greater.pvalue),
        diff,
        float(ci.low),
        float(ci.high),
    )


def welch_ttest(a, b, confidence: float = 0.95) -> TTest:
    """Welch's unequal-variance t-test of mean(a) - mean(b) (scipy's
    ``ttest_ind(equal_var=False)``, Welch-Satterthwaite degrees of freedom).

    Needs at least two values in each sample (otherwise everything but ``diff`` is NaN).  If both
    samples have zero spread, se = 0 and df = 0/0: t, df and p are NaN and the CI is [diff, diff].
    """
    _check_confidence(confidence)
    a, b = _clean(a, "a"), _clean(b, "b")
    diff = _mean(a) - _mean(b) if a.size and b.size else NAN
    if a.size < 2 or b.size < 2:
        return TTest(NAN, NAN, NAN, NAN, diff, NAN, NAN)
    if _is_zero(_sd(a), a, b) and _is_zero(_sd(b), a, b):
        return TTest(NAN, NAN, NAN, NAN, diff, diff, diff)
    return _scipy_ttest(st.ttest_ind, a, b, diff, confidence, equal_var=False)


def _paired_arrays(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Align two paired samples; drop pairs with a NaN; raise ValueError if they do not pair."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if not a.index.is_unique or not b.index.is_unique:
            raise ValueError("paired samples need unique index labels to pair on")
        if set(a.index) != set(b.index):
            raise ValueError(
                "paired samples do not align: their index labels differ "
                f"({len(a.index.difference(b.index))} only in a, "
                f"{len(b.index.difference(a.index))} only in b)"
            )
        b = b.reindex(a.index)
    a_arr = np.asarray(a, dtype=float)
    b_arr = np.asarray(b, dtype=float)
    if a_arr.ndim != 1 or b_arr.ndim != 1:
        raise ValueError(f"paired samples must be 1-D, got shapes {a_arr.shape} and {b_arr.shape}")
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"paired samples must have the same length, got {a_arr.size} and {b_arr.size}"
        )
    keep = ~(np.isnan(a_arr) | np.isnan(b_arr))
    return a_arr[keep], b_arr[keep]


def paired_ttest(a, b, confidence: float = 0.95) -> TTest:
    """Paired t-test on the differences d_i = a_i - b_i (scipy's ``ttest_rel``, df = n - 1).

    ``a`` and ``b`` must pair up: equal lengths (element i with element i), or two pandas Series
    with the same set of unique index labels (paired by label).  Anything else raises ValueError.
    Pairs with a NaN on either side are dropped.  n < 2 gives NaN for everything but ``diff``;
    zero spread of the differences gives NaN t and p and the CI [diff, diff].
    """
    _check_confidence(confidence)
    a, b = _paired_arrays(a, b)
    diff = _mean(a - b)
    if a.size < 2:
        return TTest(NAN, NAN, NAN, NAN, diff, NAN, NAN)
    if _is_zero(_sd(a - b), a, b):
        return TTest(NAN, float(a.size - 1), NAN, NAN, diff, diff, diff)
    return _scipy_ttest(st.ttest_rel, a, b, diff, confidence)


# --------------------------------------------------------------------------- effect sizes
def hedges_g(a, b) -> float:
    """Hedges' g: Cohen's d with the pooled SD, times the small-sample correction J.

        s_p = sqrt( ((n_a - 1) s_a^2 + (n_b - 1) s_b^2) / (n_a + n_b - 2) )
        d   = (mean(a) - mean(b)) / s_p
        J   = Gamma(m / 2) / ( sqrt(m / 2) * Gamma((m - 1) / 2) ),   m = n_a + n_b - 2
        g   = J * d.

    Written by hand: scipy has no Hedges' g, and statsmodels' only one,
    ``statsmodels.stats.meta_analysis.effectsize_smd`` (0.15), is documented as "API will still
    change" and uses the approximation J = 1 - 3 / (4 m - 1) rather than the exact correction
    (Hedges 1981) used here; the two agree to within 0.1 % once m >= 4.
    NaN if either sample has fewer than two values or s_p is zero.
    """
    a, b = _clean(a, "a"), _clean(b, "b")
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return NAN
    m = na + nb - 2
    sp = math.sqrt(((na - 1) * _sd(a) ** 2 + (nb - 1) * _sd(b) ** 2) / m)
    if _is_zero(sp, a, b):
        return NAN
    d = (_mean(a) - _mean(b)) / sp
    j = math.exp(special.gammaln(m / 2) - special.gammaln((m - 1) / 2)) / math.sqrt(m / 2)
    return float(j * d)


def cohens_dz(a, b) -> float:
    """Cohen's d_z for paired samples: mean(d) / s_d with d_i = a_i - b_i (= t / sqrt(n)).

    Written by hand (one line; neither scipy nor statsmodels has it).  Pairing rules as in
    :func:`paired_ttest`.  NaN if fewer than two pairs or s_d is zero.
    """
    a, b = _paired_arrays(a, b)
    d = a - b
    sd = _sd(d)
    if d.size < 2 or _is_zero(sd, a, b):
        return NAN
    return _mean(d) / sd


# --------------------------------------------------------------------------- power, equivalence
def _check_power(alpha: float, power: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1) = ({alpha:g}, 1), got {power!r}")


def detectable_dz(n: int, alpha: float, power: float = POWER) -> float:
    """The smallest standardised effect d_z that a one-sided paired t-test of n pairs at level
    ``alpha`` detects with probability ``power`` (statsmodels' ``TTestPower().solve_power`` with
    ``alternative="larger"``).  NaN for n < 2 (no test)."""
    _check_power(alpha, power)
    if n < 2:
        return NAN
    dz = TTestPower().solve_power(
        effect_size=None, nobs=n, alpha=alpha, power=power, alternative="larger"
    )
    return float(dz)


def replicates_needed(dz: float, alpha: float, power: float = POWER) -> float:
    """How many pairs a one-sided paired t-test at level ``alpha`` needs to detect a true effect
    ``dz`` with probability ``power`` (statsmodels' ``TTestPower().solve_power`` for ``nobs``,
    rounded up to a whole number).

    Returned as a float, so that it can say what no whole number can: NaN if ``dz`` is NaN, and
    inf if ``dz <= 0`` (no number of replicates shows a gain that is not there: the power of the
    test never exceeds alpha) or if ``dz`` is so close to zero that statsmodels' solver finds no
    answer (beyond ~1e25 pairs).
    """
    _check_power(alpha, power)
    if math.isnan(dz):
        return NAN
    if dz <= 0:
        return math.inf
    with warnings.catch_warnings():
        # the solver warns (ConvergenceWarning) and returns NaN when the answer is out of reach
        warnings.simplefilter("ignore")
        n = TTestPower().solve_power(
            effect_size=dz, nobs=None, alpha=alpha, power=power, alternative="larger"
        )
    return float(math.ceil(n)) if math.isfinite(n) else math.inf


def paired_tost(a, b, margin: float) -> float:
    """p-value of the paired equivalence test (TOST, two one-sided t-tests) of
    H0 "|mean(a - b)| >= margin" against H1 "-margin < mean(a - b) < margin", by statsmodels'
    ``ttost_paired``: the larger of the two one-sided p-values.

    Pairing rules as in :func:`paired_ttest`.  NaN if fewer than two pairs or the differences
    have zero spread (as for the t-test: a few seeds that agree exactly are not infinite
    evidence).
    """
    if not margin > 0:
        raise ValueError(f"the equivalence margin must be > 0, got {margin!r}")
    a, b = _paired_arrays(a, b)
    if a.size < 2 or _is_zero(_sd(a - b), a, b):
        return NAN
    return float(ttost_paired(a, b, -margin, margin)[0])


# --------------------------------------------------------------------------- multiplicity
def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, by statsmodels'
    ``multipletests(method="holm")``, in the input order: with the m p-values sorted,
    adj_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)).

    Reject H_(i) at level alpha iff adj_(i) < alpha (equivalently <=; ties are measure-zero).
    NaN entries stay NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if not ok.any():
        return out
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out[ok] = multipletests(p[ok], method="holm")[1]
    return out


# --------------------------------------------------------------------------- tables of runs
# The pairing of runs by replicate and the layout of the tables are genaug's own: written here.
def _metric_bounds(metric: str, bounds: Bounds) -> Bounds:
    return bounds if bounds is not None else METRIC_BOUNDS.get(metric)


def _check_runs(runs: pd.DataFrame, metric: str, by: str, bounds: Bounds) -> pd.DataFrame:
    missing = [c for c in ("method", by, "replicate", metric) if c not in runs.columns]
    if missing:
        raise GenaugError(
            f"the runs table lacks column(s) {missing}; it has {list(runs.columns)} - "
            "pass metric= one of its columns or regenerate the metrics records"
        )
    df = runs[["method", by, "replicate", metric]].copy()
    df["method"] = df["method"].astype(str)
    df[metric] = pd.to_numeric(df[metric], errors="coerce").astype(float)
    if bounds is not None:
        outside = df[metric][(df[metric] < bounds[0]) | (df[metric] > bounds[1])]
        if len(outside):
            raise GenaugError(
                f"{len(outside)} runs have {metric} outside its range {list(bounds)}, e.g. "
                f"{outside.iloc[0]!r}; fix the metrics records or pass bounds= the metric's range"
            )
    return df


def describe(
    runs: pd.DataFrame,
    metric: str = "accuracy",
    confidence: float = 0.95,
    by: str = "k",
    bounds: Bounds = None,
) -> pd.DataFrame:
    """Per (method, k), baseline included: n, mean, std (ddof=1) and the t-based CI of the mean.

    Sorted by method then k.  NaN metric values are not counted.  ``by`` names the column
    that plays the part of k (e.g. ``fraction`` in the imbalance scenario).  ``bounds`` is the
    metric's range the CI is clipped to; None looks the metric up in ``METRIC_BOUNDS`` (a metric
    not there is unbounded).
    """
    _check_confidence(confidence)
    bounds = _metric_bounds(metric, bounds)
    df = _check_runs(runs, metric, by, bounds)
    rows = []
    for (method, k), g in df.groupby(["method", by], sort=True):
        x = _clean(g[metric].to_numpy())
        mean, low, high = mean_ci(x, confidence, bounds)
        rows.append(
            {
                "method": method,
                "k": k,
                "n": int(x.size),
                "mean": mean,
                "std": _sd(x),
                "ci_low": low,
                "ci_high": high,
            }
        )
    out = pd.DataFrame(rows, columns=DESCRIBE_COLUMNS).rename(columns={"k": by})
    out.attrs.update(metric=metric, confidence=confidence, by=by, bounds=bounds)
    return out


def compare(
    runs: pd.DataFrame,
    metric: str = "accuracy",
    baseline: str = "none",
    alpha: float = 0.05,
    confidence: float = 0.95,
    by: str = "k",
    bounds: Bounds = None,
    margin: float = DEFAULT_MARGIN,
    power: float = POWER,
) -> pd.DataFrame:
    """Every method against the baseline, per k, paired by replicate.

    For each (method != baseline, k) the method's runs are inner-joined with the baseline's runs
    at the same k on ``replicate`` (the same replicate shares the same few-shot subset), after
    dropping runs whose metric is NaN.  Every column is computed on those n pairs, so ``mean`` and
    ``baseline_mean`` are means over the same replicates and ``diff = mean - baseline_mean``.

    Columns: see ``COMPARE_COLUMNS``.  ``p_one_sided`` is the paired one-sided p-value for
    H1 "method better than baseline" (mean of method - baseline > 0), ``confidence_better`` is
    ``1 - p_one_sided``, ``p_holm`` is the Holm adjustment of ``p_one_sided`` over all rows of the
    table, and ``significant`` is ``p_holm < alpha`` (False where p is NaN).  A (method, k) with no
    baseline runs to pair with stays in the table with n = 0 and NaN statistics.

    Whether the replicates are enough (at ``power``, 80 % by default, and the level
    alpha / m, m the number of rows with a p-value: the level Holm's first, strictest step tests
    at, so these numbers hold for every row of the family whatever its rank):

    * ``mde_dz``: the minimal detectable effect, the smallest d_z the one-sided paired test of
      the row's n pairs detects (:func:`detectable_dz`); ``mde`` is the same in the metric's
      units, ``mde_dz`` times the SD of the paired differences (NaN where that SD is undefined
      or zero).
    * ``n_needed``: the pairs needed to detect the observed ``cohens_dz``
      (:func:`replicates_needed`: a whole number as a float; inf where the observed effect is
      not a gain, NaN where d_z is undefined).

    Equivalence and harm, each Holm-corrected over the rows of the table like ``p_holm``:

    * ``tost_p``: the paired TOST p-value for "|mean difference| < ``margin``" (in the metric's
      units; :func:`paired_tost`), ``tost_p_holm`` its Holm adjustment, ``equivalent`` is
      ``tost_p_holm < alpha``.
    * ``paired_p_holm``: the Holm adjustment of the two-sided ``paired_p``.  A loss counts when
      it is below alpha with ``diff < 0``.  Two-sided rather than a one-sided "worse" test:
      Holm still keeps the family's chance of any false "worse" at most alpha, and a single
      null row is then wrongly called better or worse with probability 1.5 alpha (alpha +
      alpha / 2) rather than the 2 alpha of two one-sided tests.

    ``verdict`` is the first of ``VERDICTS`` whose rule holds: "better" if ``significant``;
    "worse" if ``paired_p_holm < alpha`` and ``diff < 0``; "no meaningful difference" if
    ``equivalent``; "inconclusive: too few replicates" if n < 2 or ``mde > margin`` (the
    replicates could not even detect a gain as large as the margin); "n/a: zero spread" if
    ``mde`` is NaN (the paired differences have zero spread: no test is defined); else
    "inconclusive" (enough replicates to detect a gain of the margin's size, yet neither a
    gain, a loss nor equivalence is shown: the effect is likely close to the margin).

    ``by`` names the column that plays the part of k (e.g. ``fraction``).  ``bounds`` is the
    metric's range: the CI of the mean is clipped to it, the CI of the difference to
    [lo - hi, hi - lo]; None looks the metric up in ``METRIC_BOUNDS`` (a metric not there is
    unbounded).  The parameters, ``bounds`` and the level of the power analysis (``power_alpha``)
    are recorded in ``table.attrs``.

    Raises GenaugError if a column is missing, a value lies outside ``bounds``, the baseline
    never occurs, or a (method, k, replicate) occurs more than once (the pairing would be
    ambiguous).
    """
    _check_confidence(confidence)
    _check_power(alpha, power)
    bounds = _metric_bounds(metric, bounds)
    df = _check_runs(runs, metric, by, bounds)
    dup = df.duplicated(["method", by, "replicate"], keep=False)
    if dup.any():
        first = df.loc[dup, ["method", by, "replicate"]].iloc[0].to_dict()
        raise GenaugError(
            f"{int(dup.sum())} runs share a (method, k, replicate), e.g. {first}; "
            "each replicate must be run once per method and k - remove the duplicate records"
        )
    if not (df["method"] == baseline).any():
        raise GenaugError(
            f"no runs of the baseline method {baseline!r} (methods: "
            f"{sorted(df['method'].unique())}); run the baseline or pass baseline="
        )
    df = df[df[metric].notna()]
    base = df[df["method"] == baseline]
    rows, sd_diff = [], []
    others = df[df["method"] != baseline]
    for (method, k), g in others.groupby(["method", by], sort=True):
        b = base[base[by] == k]
        pairs = g.merge(b, on="replicate", suffixes=("", "_base")).sort_values("replicate")
        x = pairs[metric].to_numpy()
        y = pairs[f"{metric}_base"].to_numpy()
        mean, low, high = mean_ci(x, confidence, bounds)
        w = welch_ttest(x, y, confidence)
        p = paired_ttest(x, y, confidence)
        diff_low, diff_high = _clip(p.ci_low, p.ci_high, _difference_bounds(bounds))
        rows.append(
            {
                "method": method,
                "k": k,
                "n": int(len(pairs)),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "baseline_mean": _mean(y),
                "diff": p.diff,
                "diff_ci_low": diff_low,
                "diff_ci_high": diff_high,
                "welch_t": w.t,
                "welch_df": w.df,
                "welch_p": w.p_two_sided,
                "paired_t": p.t,
                "paired_df": p.df,
                "paired_p": p.p_two_sided,
                "p_one_sided": p.p_greater,
                "confidence_better": 1.0 - p.p_greater,
                "hedges_g": hedges_g(x, y),
                "cohens_dz": cohens_dz(x, y),
                "tost_p": paired_tost(x, y, margin),
            }
        )
        # the SD of the paired differences that scales mde: NaN where undefined or zero
        sd_diff.append(NAN if _is_zero(sd := _sd(x - y), x, y) else sd)
    out = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    power_alpha = alpha / max(1, int(out["p_one_sided"].notna().sum()))
    out["mde_dz"] = [detectable_dz(n, power_alpha, power) for n in out["n"]]
    out["mde"] = out["mde_dz"] * np.asarray(sd_diff, dtype=float)
    out["n_needed"] = [replicates_needed(dz, power_alpha, power) for dz in out["cohens_dz"]]
    for p, adjusted in [
        ("p_one_sided", "p_holm"),
        ("paired_p", "paired_p_holm"),
        ("tost_p", "tost_p_holm"),
    ]:
        out[adjusted] = holm(out[p].to_numpy(dtype=float))
    # NaN compares False: a row without a p-value is neither significant nor equivalent
    out["significant"] = (out["p_holm"] < alpha).astype(bool)
    out["equivalent"] = (out["tost_p_holm"] < alpha).astype(bool)
    worse = (out["paired_p_holm"] < alpha) & (out["diff"] < 0)
    rules = [
        out["significant"],
        worse,
        out["equivalent"],
        (out["n"] < 2) | (out["mde"] > margin),
        out["mde"].isna(),
    ]
    out["verdict"] = np.select(rules, VERDICTS[:-1], default=VERDICTS[-1])
    out["n"] = out["n"].astype(int)
    out = out.sort_values(["method", "k"], kind="stable").reset_index(drop=True)
    out = out.rename(columns={"k": by})
    out.attrs.update(
        metric=metric,
        baseline=baseline,
        alpha=alpha,
        confidence=confidence,
        by=by,
        bounds=bounds,
        margin=margin,
        power=power,
        power_alpha=power_alpha,
    )
    return out


# --------------------------------------------------------------------------- one scenario
def scenario_statistics(
    runs: pd.DataFrame,
    metrics: Sequence[str],
    by: str,
    baseline: str = "none",
    alpha: float = 0.05,
    confidence: float = 0.95,
    margin: float = DEFAULT_MARGIN,
    *,
    against: Sequence[str] = (),
    generators: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[tuple[str, str], pd.DataFrame], pd.DataFrame]:
    """:func:`compare` and :func:`describe` for each metric of a scenario: every method
    against ``baseline``; each generator+transform combination (``dagan+classical``, see
    :mod:`genaug.methods`) also against its transform alone; and every method that uses a
    generator (``generators``: their names; a combination counts) also against each strong
    baseline of ``against`` that ran (e.g. ``oversample``). Each (metric, baseline) is its own
    Holm family, and each answers its own question: the methods against ``none``, does
    augmentation help at all; the generators and combinations against ``classical``, does
    synthetic data beat, or add to, the method you would use anyway.

    Returns the comparisons stacked with leading ``metric`` and ``baseline`` columns, each
    (metric, baseline)'s :func:`compare` table (with its ``attrs``: what
    :func:`genaug.report.comparisons_markdown` renders; ``baseline`` first, then those of
    ``against``, then the other transforms in the order of their first combination), and the
    descriptions stacked like the comparisons (with a ``metric`` column)."""
    methods = list(dict.fromkeys(runs["method"].astype(str)))
    transforms = [c[1] for m in methods if (c := split_combo(m)) is not None]
    families = {baseline: runs}
    for base in dict.fromkeys([*against, *transforms]):
        combos = combos_on(base, methods)
        strong = base in against
        members = [m for m in methods if m in combos or (strong and base_method(m) in generators)]
        if base in methods and base != baseline and members:
            families[base] = runs[runs["method"].isin([base, *members])]
    tables: dict[tuple[str, str], pd.DataFrame] = {}
    described = []
    for metric in metrics:
        for base, family in families.items():
            tables[metric, base] = compare(
                family, metric, base, alpha, confidence, by=by, margin=margin
            )
        described.append(describe(runs, metric, confidence, by=by).assign(metric=metric))

    def stacked(frames: list[pd.DataFrame], first: list[str]) -> pd.DataFrame:
        df = pd.concat(frames, ignore_index=True)
        return df[first + [c for c in df.columns if c not in first]]

    comparisons = [t.assign(metric=m, baseline=b) for (m, b), t in tables.items()]
    return (
        stacked(comparisons, ["metric", "baseline", "method", by]),
        tables,
        stacked(described, ["metric", "method", by]),
    )
