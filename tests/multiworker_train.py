"""Train a small BNN with `CaseOptimizer(Bop, Adam)` under a `tf.distribute` strategy.

Run by `tests/test_multiworker.py`, one process per worker (or one for the reference):

    python tests/multiworker_train.py multiworker OUT.npz   # TF_CONFIG names the cluster and task
    python tests/multiworker_train.py mirrored OUT.npz      # one process, two logical CPUs

Both modes train the same model (same seed) on the same data with the same global batch, so they
run the same two replicas: `multiworker` has one CPU replica in each worker process and all-reduces
over gRPC (ring collectives), `mirrored` has both replicas in one process. `OUT.npz` gets, for every
model and optimizer variable, the value held by each local replica (stacked on axis 0), plus the
initial model weights and the training losses.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SEED = 0
N_FEATURES = 16
N_SAMPLES = 64
GLOBAL_BATCH = 16
EPOCHS = 2
STEPS = EPOCHS * N_SAMPLES // GLOBAL_BATCH
# Seconds a collective may wait for the other worker before failing (instead of hanging).
COLLECTIVE_TIMEOUT = 60


def data() -> tuple[np.ndarray, np.ndarray]:
    """Linearly separable two-class data."""
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype("float32")
    y = (x[:, :4].sum(axis=1) > 0).astype("int32")
    return x, y


def make_strategy(mode: str):
    import tensorflow as tf

    # One intra-op thread: the same kernels run the same way in every process, and three
    # processes on a small shared machine do not oversubscribe it.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
        )
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    if mode == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise SystemExit("multiworker mode needs TF_CONFIG")
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING,
            timeout_seconds=COLLECTIVE_TIMEOUT,
        )
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise SystemExit(f"unknown mode {mode!r} (expected 'multiworker' or 'mirrored')")


def build_model(keras, lq):
    """Two binary QuantDense layers (NoOp(1) kernels, trained by Bop), BatchNorm, float head.

    BatchNormalization is `synchronized`: Keras 3 otherwise keeps separate moving statistics on
    each replica (each from its own half of the batch), so replicas would not hold equal weights.
    """
    inputs = keras.Input((N_FEATURES,))
    x = lq.layers.QuantDense(
        32, kernel_quantizer=lq.quantizers.NoOp(precision=1), use_bias=False, name="bin1"
    )(inputs)
    x = keras.layers.BatchNormalization(synchronized=True, name="bn1")(x)
    x = lq.layers.QuantDense(
        32,
        input_quantizer="ste_sign",
        kernel_quantizer=lq.quantizers.NoOp(precision=1),
        use_bias=False,
        name="bin2",
    )(x)
    x = keras.layers.BatchNormalization(synchronized=True, name="bn2")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs, name="bnn")


def replica_values(variable) -> np.ndarray:
    """The variable's value on every local replica, stacked on axis 0."""
    value = variable.value
    replicas = getattr(value, "values", (value,))
    return np.stack([np.asarray(r.numpy()) for r in replicas])


def train(tf, keras, lq, strategy, model):
    """`STEPS` steps of a custom training loop; the optimizer, initial weights and step losses.

    Not `model.fit`: in Keras 3 (3.15) `fit` stops under `MultiWorkerMirroredStrategy` before the
    first step (its symbolic build reduces the first batch's `PerReplica` structure, which the
    strategy rejects; keras-team/keras#20585). The loop is the one TensorFlow documents for
    multi-worker training, used in both modes so they run the same computation.
    """
    x, y = data()

    def dataset_fn(context):
        # Batches of one replica; replica r of step s gets global batch s, rows [8r, 8r + 8).
        batch = context.get_per_replica_batch_size(GLOBAL_BATCH)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat(EPOCHS).batch(batch)
        return dataset.shard(context.num_input_pipelines, context.input_pipeline_id)

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    with strategy.scope():
        optimizer = lq.optimizers.CaseOptimizer(
            (lq.optimizers.Bop.is_binary_variable, lq.optimizers.Bop(1e-6, 1e-3)),
            default_optimizer=keras.optimizers.Adam(0.01),
        )
        optimizer.build(model.trainable_variables)
    initial = [np.asarray(w) for w in model.get_weights()]

    def step_fn(inputs, labels):
        with tf.GradientTape() as tape:
            predictions = model(inputs, training=True)
            loss = tf.nn.compute_average_loss(
                loss_fn(labels, predictions), global_batch_size=GLOBAL_BATCH
            )
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def train_step(iterator):
        losses = strategy.run(step_fn, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    losses = [float(train_step(iterator)) for _ in range(STEPS)]
    return optimizer, initial, losses


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    mode, out = argv
    strategy = make_strategy(mode)

    import keras
    import tensorflow as tf

    import bnnstat as lq

    keras.utils.set_random_seed(SEED)
    with strategy.scope():
        model = build_model(keras, lq)
    optimizer, initial, losses = train(tf, keras, lq, strategy, model)

    arrays = {
        "num_replicas_in_sync": np.asarray(strategy.num_replicas_in_sync),
        "loss": np.asarray(losses),
    }
    for i, w in enumerate(initial):
        arrays[f"initial/{i:02d}"] = w
    for i, v in enumerate(model.weights):
        arrays[f"model/{i:02d}/{v.path}"] = replica_values(v)
    for i, v in enumerate(optimizer.variables):
        arrays[f"optimizer/{i:02d}/{v.path}"] = replica_values(v)
    for k, inner in enumerate(optimizer.optimizers):
        arrays[f"iterations/{k}/{type(inner).__name__}"] = np.asarray(inner.iterations.numpy())
    np.savez(out, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
