"""Training on several devices or machines with TensorFlow's own distribution engine.

``make_strategy`` names a run's ``tf.distribute`` strategy: one device, ``MirroredStrategy``
over this machine's GPUs (or logical CPUs), or ``MultiWorkerMirroredStrategy`` over the
machines ``TF_CONFIG`` describes. Under the multi-worker strategy Keras' ``fit`` fails in its
metric reduction on the pinned versions (keras#20585), so ``fit_multiworker`` runs the model's
own ``train_step`` through ``strategy.run`` with the same callbacks ``fit`` would drive.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import keras
import tensorflow as tf

from kgen.errors import ConfigError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy a run trains under: "default" (one device), "mirrored" or "multiworker"."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return _mirrored_strategy(tuple(d.name for d in devices))
    if name == "multiworker":
        return _multiworker_strategy()
    raise ConfigError(f"unknown strategy {name!r}; use default, mirrored or multiworker")


# One strategy of each kind per process: two strategies over the same devices would number their
# collective ops alike, and TensorFlow configures the multi-worker collectives only once.


@functools.cache
def _mirrored_strategy(devices: tuple[str, ...]) -> tf.distribute.Strategy:
    return tf.distribute.MirroredStrategy(list(devices))


@functools.cache
def _multiworker_strategy() -> tf.distribute.Strategy:
    cluster = tf_config()
    workers = len(cluster["cluster"].get("worker", [])) + len(cluster["cluster"].get("chief", []))
    if workers < 1:
        raise ConfigError("TF_CONFIG names no chief or worker in its cluster")
    return tf.distribute.MultiWorkerMirroredStrategy()


def tf_config() -> dict:
    """The parsed ``TF_CONFIG`` of a multi-worker run, checked for the parts TensorFlow needs."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ConfigError("--strategy multiworker needs TF_CONFIG (see 'Several machines' in README.md)")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {err}") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) \
            or not isinstance(config.get("task"), dict):
        raise ConfigError('TF_CONFIG needs {"cluster": {...}, "task": {"type": ..., "index": ...}}')
    return config


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that writes the run: the only one, the chief, or worker 0 without one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def check_run(strategy: tf.distribute.Strategy, batch_size: int, resume: bool = False) -> None:
    """A run can train under ``strategy``: its batches split evenly over the replicas, and a
    multi-worker run is new (every worker would have to reload the chief's checkpoint)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(f"batch_size {batch_size} does not split evenly over {replicas} replicas")
    if resume and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise ConfigError("a multiworker run cannot be resumed; resume it with --strategy mirrored or default")


def worker_run_dir(strategy: tf.distribute.Strategy, run_dir: str | os.PathLike) -> Path:
    """Where this process writes the run: ``run_dir`` on the chief, a scratch folder on the
    other workers (they take part in every step but their files would only repeat the chief's)."""
    if is_chief(strategy):
        return Path(run_dir)
    return Path(tempfile.mkdtemp(prefix="kgen-worker-")) / Path(run_dir).name


def discard_worker_run(strategy: tf.distribute.Strategy, run_path: Path) -> None:
    """Remove a non-chief worker's scratch run (see `worker_run_dir`)."""
    if not is_chief(strategy):
        shutil.rmtree(Path(run_path).parent, ignore_errors=True)


def split_minibatches_by_replica(dataset: tf.data.Dataset, d_steps: int, replicas: int) -> tf.data.Dataset:
    """Reorders each batch of a GAN's ``d_steps`` real minibatches so that every replica's slice
    holds its part of each minibatch: the k-th discriminator update then sees the same examples
    over all replicas as it would on one device."""
    if d_steps == 1 or replicas == 1:
        return dataset

    def reorder(tensor):
        shape = tf.shape(tensor)
        grouped = tf.reshape(tensor, tf.concat([[d_steps, replicas, -1], shape[1:]], axis=0))
        axes = [1, 0, *range(2, tensor.shape.rank + 2)]
        return tf.reshape(tf.transpose(grouped, axes), shape)

    return dataset.map(lambda *parts: tuple(reorder(p) for p in parts) if len(parts) > 1 else reorder(parts[0]))


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under Keras' dtype policy ``name`` ("float32", "mixed_float16",
    "mixed_bfloat16"); the policy is per-thread global state, restored on exit."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def fit_multiworker(
    model: keras.Model,
    train_data: tf.data.Dataset,
    *,
    epochs: int,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    validation_data: tf.data.Dataset | None = None,
    verbose: int = 0,
    shuffle: bool = False,
) -> keras.callbacks.History:
    """``model.fit`` for the multi-worker strategy the model was built under: each step runs the
    model's ``train_step`` on every replica of every worker; metrics are averaged over replicas.

    Callbacks get the calls and logs ``fit`` gives them. A stop asked on any worker
    (``model.stop_training``) is agreed by all at the next step, so no worker is left waiting.
    ``verbose`` and ``shuffle`` are accepted as ``fit`` takes them; the data arrive shuffled and
    progress goes to the callbacks.
    """
    strategy = model.distribute_strategy
    train_batches = strategy.experimental_distribute_dataset(_sharded_by_data(train_data))
    val_batches = None
    if validation_data is not None:
        val_batches = strategy.experimental_distribute_dataset(_sharded_by_data(validation_data))
    train_step = _distributed_step(strategy, model.train_step)
    test_step = _distributed_step(strategy, model.test_step)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, model=model, epochs=epochs, steps=steps_per_epoch, verbose=0
    )
    model.stop_training = False
    callback_list.on_train_begin()
    epoch_logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        _reset(model)
        callback_list.on_epoch_begin(epoch)
        logs: dict[str, float] = {}
        for step, batch in enumerate(train_batches):
            callback_list.on_train_batch_begin(step)
            logs, stop = train_step(batch, tf.constant(model.stop_training))
            if stop:  # some worker asked to stop at its previous step
                model.stop_training = True
                break
            logs = _floats(logs)
            callback_list.on_train_batch_end(step, logs)
        epoch_logs = dict(logs)
        if val_batches is not None and not model.stop_training:
            _reset(model)
            val_logs: dict[str, float] = {}
            for batch in val_batches:
                val_logs, _ = test_step(batch, tf.constant(False))
            epoch_logs.update({f"val_{k}": v for k, v in _floats(val_logs).items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callback_list.on_train_end(epoch_logs)
    return model.history


def _distributed_step(strategy: tf.distribute.Strategy, step_fn):
    """A compiled step: ``step_fn`` on every replica, its metrics averaged, and whether any
    worker asked to stop."""

    @tf.function
    def step(batch, stop):
        outputs = strategy.run(step_fn, args=(batch,))
        metrics = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in outputs.items()}
        votes = strategy.run(lambda: tf.cast(stop, tf.int32))
        return metrics, strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None) > 0

    return step


def _sharded_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """In-memory data has no files to share out: each worker takes its slice of every batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _reset(model: keras.Model) -> None:
    for metric in model.metrics:
        metric.reset_state()


def _floats(logs) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items()}
