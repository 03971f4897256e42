"""The errors kgen raises for bad input: one line each, naming the problem."""


class KgenError(Exception):
    """Base of every error kgen reports to a user as a one-line message."""


class DatasetError(KgenError):
    """A dataset is missing, unreadable, malformed or cannot be fetched."""


class ConfigError(KgenError):
    """A hyperparameter or option has a value that makes no sense."""


class RunError(KgenError):
    """A run directory or model file is missing, corrupt or not kgen's."""
