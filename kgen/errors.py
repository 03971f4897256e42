"""The errors kgen raises for bad input: one line each, naming the problem."""


class KgenError(Exception):
    """Base of every error kgen reports to a user as a one-line message."""


class DatasetError(KgenError):
    """A dataset is missing, unreadable, malformed or cannot be fetched."""


class ConfigError(KgenError):
    """A hyperparameter or option has a value that makes no sense."""


class RunError(KgenError):
    """A run directory or model file is missing, corrupt or not kgen's."""


def one_line(err: BaseException) -> str:
    """What to tell a user about ``err`` in one line: a KgenError's own message, anything else
    named by its type with the first line of its message."""
    text = str(err).strip()
    if isinstance(err, KgenError):
        return text.splitlines()[0] if text else type(err).__name__
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
