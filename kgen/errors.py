"""The errors kgen raises for bad input: one line each, naming the problem."""

import os


class KgenError(Exception):
    """Base of every error kgen reports to a user as a one-line message.

    ``options`` names the parameters the message mentions (as their config names, e.g.
    image_size): the library speaks in parameters; the CLI spells them as its flags."""

    def __init__(self, *args: object, options: tuple[str, ...] = ()):
        super().__init__(*args)
        self.options = tuple(options)


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


def show_path(path: "str | os.PathLike | bytes") -> str:
    """Printable one-line form of a path, even one whose name is not valid UTF-8 or holds a
    newline or other control character (shown escaped, as in repr)."""
    text = os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
