"""The one exception a user should ever see from genaug: a one-line problem-and-fix message."""


class GenaugError(RuntimeError):
    """A problem with the user's input, stated in one line that names the problem and the fix.

    Rule scripts let it propagate; ``genaug.cli.main_guard`` prints it without a traceback.
    """
