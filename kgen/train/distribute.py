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
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import keras
import tensorflow as tf

from kgen.errors import ConfigError, one_line, show_path

# The task types a kgen multi-worker cluster may name (no parameter servers or evaluators).
TASK_TYPES = ("chief", "worker")
# How long a worker waits for the others to answer before giving up, in seconds.
TIMEOUT_ENV = "KGEN_MULTIWORKER_TIMEOUT"
DEFAULT_CONTACT_TIMEOUT = 60.0


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
    config = tf_config()
    # Creating the strategy waits inside TensorFlow, deaf to signals, until every worker answers.
    with first_contact_watchdog(config, contact_timeout()):
        return tf.distribute.MultiWorkerMirroredStrategy()


def tf_config() -> dict:
    """The parsed ``TF_CONFIG`` of a multi-worker run, checked field by field before TensorFlow
    reads it: a cluster of chief and worker "host:port" lists and a task that is one of them."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ConfigError("strategy multiworker needs TF_CONFIG (see 'Several machines' in docs/USER_GUIDE.md)",
                          options=("strategy",))
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {one_line(err)}") from None
    if not isinstance(config, dict):
        raise ConfigError('TF_CONFIG must be a JSON object {"cluster": {...}, "task": {"type": ..., "index": ...}}')
    _check_task(config.get("task"), _check_cluster(config.get("cluster")))
    return config


def _check_cluster(cluster) -> dict[str, list]:
    """The cluster's task lists, each address checked."""
    if not isinstance(cluster, dict) or not cluster:
        raise ConfigError(f"TF_CONFIG cluster must be an object of task lists such as "
                          f'{{"worker": ["host:port", ...]}}, got {_shown(cluster)}')
    seen: set[str] = set()
    for task_type, addresses in cluster.items():
        if task_type not in TASK_TYPES:
            raise ConfigError(f"TF_CONFIG cluster.{_shown(task_type)}: kgen's multiworker runs have only "
                              f"{' and '.join(TASK_TYPES)} tasks")
        if not isinstance(addresses, list) or not addresses:
            raise ConfigError(f'TF_CONFIG cluster.{task_type} must be a non-empty list of "host:port", '
                              f"got {_shown(addresses)}")
        for i, address in enumerate(addresses):
            _check_address(address, f"cluster.{task_type}[{i}]")
            if address in seen:
                raise ConfigError(f"TF_CONFIG cluster.{task_type}[{i}] repeats the address {address}")
            seen.add(address)
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError(f"TF_CONFIG cluster.chief holds {len(cluster['chief'])} addresses; a cluster has one chief")
    return cluster


def _check_address(address, where: str) -> None:
    host, _, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not host.strip("[]") or host != host.strip():
        raise ConfigError(f'TF_CONFIG {where} must be "host:port", got {_shown(address)}')
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigError(f"TF_CONFIG {where} has port {_shown(port)}; a port is a number from 1 to 65535")


def _check_task(task, cluster: dict[str, list]) -> None:
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ConfigError(f'TF_CONFIG task must be {{"type": ..., "index": ...}}, got {_shown(task)}')
    task_type, index = task["type"], task["index"]
    if task_type not in TASK_TYPES:
        raise ConfigError(f"TF_CONFIG task.type must be {' or '.join(TASK_TYPES)}, got {_shown(task_type)}")
    if task_type not in cluster:
        raise ConfigError(f"TF_CONFIG task.type is {task_type} but the cluster names no {task_type}")
    count = len(cluster[task_type])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise ConfigError(f"TF_CONFIG task.index must be a whole number from 0 to {count - 1} "
                          f"(cluster.{task_type} has {count}), got {_shown(index)}")


def _shown(value) -> str:
    """A JSON value as one short printable line, for messages."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def contact_timeout() -> float:
    """Seconds a worker waits for the others to answer: ``KGEN_MULTIWORKER_TIMEOUT``, else 60."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_CONTACT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{TIMEOUT_ENV} must be a number of seconds > 0, got {text!r}")
    return seconds


@contextlib.contextmanager
def first_contact_watchdog(config: dict, timeout: float) -> Iterator[None]:
    """While the main thread waits inside TensorFlow for the other workers, holding the
    interpreter (no Python thread or signal handler runs), a small watcher process ends this
    one (SIGKILL) with one line on Ctrl-C, or once ``timeout`` seconds pass. Nothing is written
    before this point, so nothing is lost. TensorFlow's preemption handler swallows SIGTERM from
    the wait on, so SIGTERM ends the wait at the timeout; afterwards it ends the process again."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals and their masks belong to the main thread
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    # Ctrl-C writes its number to the pipe even while the interpreter is held.
    previous_fd = signal.set_wakeup_fd(write_fd)
    previous_int = signal.signal(signal.SIGINT, lambda *_: None)
    watcher = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _WATCHER, str(read_fd), str(os.getpid()), repr(timeout),
         json.dumps(_peers(config)), TIMEOUT_ENV], pass_fds=(read_fd,), stdin=subprocess.DEVNULL)
    os.close(read_fd)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        os.close(write_fd)  # the watcher sees the end of the pipe and leaves quietly
        watcher.wait()
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # TensorFlow's handler would ignore it


def _peers(config: dict) -> list[list]:
    """[name, host, port] of every task but this one."""
    own = (config["task"]["type"], config["task"]["index"])
    return [[f"{task_type} {i} at {show_path(address)}", address.rpartition(":")[0].strip("[]"),
             int(address.rpartition(":")[2])]
            for task_type, addresses in config["cluster"].items()
            for i, address in enumerate(addresses) if (task_type, i) != own]


# The watcher process (see first_contact_watchdog): argv = pipe fd, pid, timeout, peers, variable.
_WATCHER = """
import json, os, select, signal, socket, sys, time
fd, pid, timeout, peers, variable = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
signal.signal(signal.SIGINT, signal.SIG_IGN)

def end(message):
    sys.stderr.write(message + "\\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGKILL)
    sys.exit(0)

def silent():
    names = []
    for name, host, port in peers:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            names.append(name)
    return f": {', '.join(names)} {'does' if len(names) == 1 else 'do'} not answer" if names else ""

deadline = time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        end(f"kgen: error: no contact with the other workers of TF_CONFIG within {timeout:g} s{silent()}; "
            f"start every worker with the same TF_CONFIG, or allow more time with {variable}")
    if select.select([fd], [], [], min(left, 0.2))[0]:
        data = os.read(fd, 64)
        if not data:
            sys.exit(0)
        if signal.SIGINT in data:
            end("kgen: interrupted while waiting for the other workers of TF_CONFIG; nothing was written")
"""


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
        raise ConfigError("a multiworker run cannot be resumed; resume it with strategy mirrored or default",
                          options=("strategy",))


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
