"""A quiet start for the ``kgen`` command: TensorFlow's native start-up lines (absl's "All log
messages before absl::InitializeLog()", oneDNN, CUDA probing such as cuInit) are dropped unless
the user asks for them with ``--verbose`` or ``KGEN_DEBUG=1``.

Those lines are written by C++ straight to file descriptor 2 while TensorFlow loads and first
looks for devices, before any Python logging exists, so they are caught there: the first
``import tensorflow`` (wherever it happens, so TensorFlow stays a lazy import) runs with fd 2
pointed at a scratch file, which is shown only if the import fails. Later native errors stay
visible.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator

DEBUG_VARIABLE = "KGEN_DEBUG"


def wants_verbose(flag: bool = False) -> bool:
    """True when the user asked for TensorFlow's own logs: ``--verbose``, or KGEN_DEBUG set (not 0)."""
    return flag or os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")


def configure(verbose: bool) -> None:
    """Before TensorFlow is imported: let all its logs through (verbose), or drop its start-up lines."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


@contextlib.contextmanager
def native_stderr_dropped() -> Iterator[None]:
    """Point fd 2 at a scratch file for the block (what C++ writes there is dropped); if the block
    raises, the scratch text is written to the real stderr first, so a failure keeps its context."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            scratch.seek(0)
            os.write(2, scratch.read())
            raise
        else:
            _restore(saved)


def _restore(saved: int) -> None:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, with a loader that runs its import quietly; then steps aside."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's import and its first device probe (where cuInit complains) with fd 2
    dropped, then hands the module back to its real loader."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self._loader
        with native_stderr_dropped():
            self._loader.exec_module(module)
            with contextlib.suppress(Exception):  # only there to say its start-up lines now
                module.config.list_physical_devices()

    def __getattr__(self, name: str):
        return getattr(self._loader, name)
