"""What a custom ``train_step`` needs so that it computes the same thing on one device as on
many replicas of a ``tf.distribute`` strategy, and the same in mixed precision as in float32.

Under a strategy each replica sees an equal slice of the global batch (kgen's training makes
batches whole and checks that they split evenly) and the optimizer sums the replicas'
gradients, so each replica's loss is divided by the number of replicas; noise is drawn for the
whole global batch and sliced, so the replicas never share noise and a run's numbers do not
depend on how many replicas split its batches. On one device every function here reduces to
the plain computation.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def _replica_context():
    """The replica context of a step running on more than one replica, else None."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def batch_slice(local_size):
    """(offset, global size): where this replica's examples sit in the global batch."""
    context = _replica_context()
    if context is None:
        return 0, local_size
    return local_size * context.replica_id_in_sync_group, local_size * context.num_replicas_in_sync


def normal(shape, seed_generator):
    """Standard normal noise for this replica's ``shape[0]`` examples: its slice of the draw one
    device makes for the global batch."""
    return _sliced(keras.random.normal, shape, seed_generator)


def uniform(shape, seed_generator):
    """Uniform [0, 1) noise for this replica's examples, sliced like `normal`."""
    return _sliced(keras.random.uniform, shape, seed_generator)


def _sliced(draw, shape, seed_generator):
    if _replica_context() is None:
        return draw(shape, seed=seed_generator)
    offset, total = batch_slice(shape[0])
    rest = tuple(shape[1:])
    whole = draw((total, *rest), seed=seed_generator)
    return ops.slice(whole, (offset, *[0] * len(rest)), (shape[0], *rest))


def loss_to_differentiate(loss, optimizer):
    """This replica's batch-mean ``loss`` as its share of the global-batch mean, times the
    optimizer's loss scale (mixed float16): the gradients summed over replicas and unscaled by
    the optimizer are then those of the global batch."""
    context = _replica_context()
    if context is not None:
        loss = loss / context.num_replicas_in_sync
    return optimizer.scale_loss(loss)


def gradient_norm(grads, optimizer):
    """Global L2 norm of the gradient the optimizer applies: summed over replicas, loss scale
    removed. Under a strategy this costs one extra all-reduce of the gradients."""
    grads = [ops.cast(g, "float32") for g in grads if g is not None]
    context = _replica_context()
    if context is not None:
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = norm / ops.cast(optimizer.dynamic_scale, norm.dtype)
    return norm


def to_float32(tensors):
    """Network outputs as float32: under a mixed policy layers compute in float16/bfloat16, and
    losses, likelihoods and metrics are computed in float32."""
    return keras.tree.map_structure(lambda t: ops.cast(t, "float32"), tensors)
