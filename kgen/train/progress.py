"""How a training run shows progress on stdout: Keras' bar within each epoch on a terminal, one
line per epoch otherwise, so a log file or a pipe gets whole lines and no carriage returns."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

import keras


@dataclass(frozen=True)
class Progress:
    """What ``fit`` is given to show progress: its ``verbose`` and the callbacks that print."""

    keras_verbose: int
    callbacks: tuple[keras.callbacks.Callback, ...] = ()


def choose_progress(verbose: int | None, epochs: int, stream: TextIO | None = None) -> Progress:
    """Keras' own display when ``verbose`` is given; else its bar on a terminal, `EpochLines` off one."""
    if verbose is not None:
        return Progress(verbose)
    stream = stream or sys.stdout
    if _is_terminal(stream):
        return Progress(1)
    return Progress(0, (EpochLines(epochs, stream),))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class EpochLines(keras.callbacks.Callback):
    """Prints one line per finished epoch: its number of ``epochs``, seconds and metrics."""

    def __init__(self, epochs: int, stream: TextIO):
        super().__init__()
        self.epochs, self.stream = epochs, stream
        self._start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        print(format_epoch_line(epoch + 1, self.epochs, time.monotonic() - self._start, logs or {}),
              file=self.stream, flush=True)


def format_epoch_line(epoch: int, epochs: int, seconds: float, metrics: dict[str, float]) -> str:
    """'epoch 3/30 - 1.2 s - kl 0.2237 - loss 30.53 - val_loss 27.74': training metrics, then validation."""
    ordered = sorted(metrics, key=lambda k: (k.startswith("val_"), k))
    values = " - ".join(f"{k} {float(metrics[k]):.4g}" for k in ordered)
    return f"epoch {epoch}/{epochs} - {seconds:.1f} s" + (f" - {values}" if values else "")
