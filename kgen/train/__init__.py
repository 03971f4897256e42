"""Training: `train` a RunConfig into a run directory, with the callbacks that record it;
`RunLogger` records anyone's own ``model.fit`` the same way."""

from kgen.train.run_logger import RunLogger

__all__ = ["RunLogger"]
