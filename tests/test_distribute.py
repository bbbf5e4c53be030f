"""kerasbert.distribute on real TensorFlow: TPU errors, MirroredStrategy over logical
CPUs, MultiWorkerMirroredStrategy from TF_CONFIG, precision, XLA and input checks.

Strategies that configure devices run in subprocesses: logical CPUs, visible
GPUs and collectives can only be set before TensorFlow initialises.
"""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from absl import flags

from kerasbert.distribute.flags import define_flags

# Each error below comes within seconds (TensorFlow's start-up included). The
# subprocess is killed only past _CLI_KILL_S, so that a run that overstays
# _CLI_QUICK_S (a TPU wait that ignores --tpu_timeout, or the 300 s default
# deadline) fails on the bound, not on the kill; _CLI_QUICK_S is a generous
# multiple of the few seconds they take, so that only such a wait crosses it.
_CLI_QUICK_S = 90
_CLI_KILL_S = 400


def _env(**extra):
    """The test process's environment, CPU-only and without a TF_CONFIG, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(*args, **env):
    """Run `python -m kerasbert.distribute ARGS`; (completed process, seconds)."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kerasbert.distribute", *args],
                            capture_output=True, text=True, env=_env(**env),
                            timeout=_CLI_KILL_S)
    return result, time.monotonic() - start


def _assert_one_line_error(result, seconds, *fragments):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("kerasbert.check: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert seconds < _CLI_QUICK_S, f"the error took {seconds:.0f} s"


# --- TPU: one clear error, quickly, when there is none -------------------------------------------

def test_tpu_local_without_tpu_is_one_line_exit_2():
    result, seconds = _cli("--tpu=local")
    _assert_one_line_error(result, seconds, "--tpu=local", "no TPU found", "NotFoundError")


def test_tpu_grpc_where_nothing_listens_is_one_line_exit_2():
    port = _free_port()
    result, seconds = _cli(f"--tpu=grpc://127.0.0.1:{port}")
    _assert_one_line_error(result, seconds, f"nothing accepts connections at 127.0.0.1:{port}")


def test_tpu_grpc_peer_that_never_answers_hits_the_deadline():
    """A port that accepts TCP but never speaks gRPC makes TensorFlow wait forever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        result, seconds = _cli(f"--tpu=grpc://127.0.0.1:{port}", "--tpu_timeout=3")
    _assert_one_line_error(result, seconds, "no TPU answered within 3 s")


def test_colab_tpu_address_comes_from_colab_tpu_addr(monkeypatch):
    from kerasbert.distribute.tpu import TPUNotFoundError, connect_tpu, tpu_address

    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    assert tpu_address("colab") == ("local", "Colab without COLAB_TPU_ADDR")
    port = _free_port()
    monkeypatch.setenv("COLAB_TPU_ADDR", f"127.0.0.1:{port}")
    assert tpu_address("")[0] == f"grpc://127.0.0.1:{port}"
    start = time.monotonic()
    # The TCP probe refuses at once, before the resolver's 300 s deadline could
    # start: its message, and a bound far below that deadline.
    with pytest.raises(TPUNotFoundError, match=f"COLAB_TPU_ADDR.*nothing accepts connections "
                                               f"at 127.0.0.1:{port}"):
        connect_tpu("colab")
    assert time.monotonic() - start < 60


# --- MultiWorkerMirroredStrategy from TF_CONFIG --------------------------------------------------

_WORKER_SCRIPT = r"""
import json
import tensorflow as tf
from kerasbert.data.pipeline import distribute
from kerasbert.distribute import resolve_strategy

setup = resolve_strategy()
print(setup.describe(8))
# The training input's sharding: each worker reads every second example.
data = setup.strategy.distribute_datasets_from_function(
    lambda context: distribute(tf.data.Dataset.range(16), input_context=context).batch(
        context.get_per_replica_batch_size(8)))
local = setup.strategy.experimental_local_results
print(json.dumps([[int(v) for v in part] for batch in data for part in local(batch)]))
"""


def test_tf_config_with_two_workers_gives_multi_worker_strategy_and_shards():
    workers = [f"localhost:{_free_port()}" for _ in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER_SCRIPT], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env=_env(TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                           "task": {"type": "worker", "index": index}})))
        for index in range(2)]
    try:
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()
    batches = []
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
        describe, read = stdout.strip().splitlines()[-2:]
        assert describe == ("MultiWorkerMirroredStrategy (multi_worker), 2 replicas, "
                            "precision float32, XLA off, global batch 8 (4 per replica)")
        batches.append(json.loads(read))
    assert batches[0] == [[0, 2, 4, 6], [8, 10, 12, 14]]
    assert batches[1] == [[1, 3, 5, 7], [9, 11, 13, 15]]


# --- MirroredStrategy over 4 logical CPUs: the Trainer's loss curve is that of one device ------

_MIRRORED_SCRIPT = r"""
import glob
import json
import os
import sys

import keras
import numpy as np
import tensorflow as tf
from kerasbert.distribute import resolve_strategy
from kerasbert.tasks.classification import ClassificationTask
from kerasbert.configs.training import TrainingConfig
from kerasbert.loop.trainer import Trainer

GLOBAL_BATCH, STEPS, EPOCHS = 32, 12, 2
OUT = sys.argv[1]
mirrored = resolve_strategy(cpu_replicas=4)
single = resolve_strategy(mixed_precision="float32")
rng = np.random.default_rng(0)
x = rng.normal(size=(GLOBAL_BATCH * STEPS, 8)).astype("float32")
y = (x @ rng.normal(size=(8, 3))).argmax(-1).astype("int32")


class Task(ClassificationTask):
    # The package's classification task; it notes the batch each replica's loss sees.
    def loss(self, labels, logits):
        self.replica_batches.append(int(labels.shape[0]))
        return super().loss(labels, logits)


def build():
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3)])

keras.utils.set_random_seed(1)
initial = build().get_weights()


def model_fn():
    model = build()
    model.set_weights(initial)
    return model


def logged_losses(directory):
    # The per-update training loss the Trainer wrote to TensorBoard.
    values = {}
    for path in glob.glob(os.path.join(directory, "logs", "train", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "loss":
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return [values[step] for step in sorted(values)]


def train(setup, name, batch_size=GLOBAL_BATCH, jit_compile=False):
    task = Task(["a", "b", "c"])
    task.replica_batches, contexts = [], []

    def dataset_fn(epoch, context):
        per_replica = context.get_per_replica_batch_size(batch_size)
        contexts.append([context.num_input_pipelines, context.num_replicas_in_sync, per_replica])
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(per_replica, drop_remainder=True)

    def evaluate(model):
        return task.compute_metrics(model(x, training=False).numpy(), y)

    config = TrainingConfig(epochs=EPOCHS, batch_size=batch_size, learning_rate=1e-2,
                            warmup_ratio=0.0, log_every_steps=1, checkpoint_every_steps=0,
                            restore_best=False, verbose=0)
    trainer = Trainer(model_fn, task, config, os.path.join(OUT, name), setup.strategy,
                      jit_compile=jit_compile)
    trainer.fit(dataset_fn, STEPS, evaluate)
    return {"losses": logged_losses(os.path.join(OUT, name)), "steps": int(trainer.state.step),
            "replica_batches": task.replica_batches, "contexts": contexts,
            "history": [h["accuracy"] for h in trainer.history],
            "weights": [w.tolist() for w in trainer.model.get_weights()]}


def error(run):
    try:
        run()
    except Exception as err:
        return [type(err).__name__, str(err)]

# The first update's loss, computed apart from the Trainer: the mean cross-entropy
# of the initial model over the first global batch.
first = keras.losses.sparse_categorical_crossentropy(
    y[:GLOBAL_BATCH], model_fn()(x[:GLOBAL_BATCH]), from_logits=True)
print(json.dumps({
    "kind": mirrored.kind, "replicas": mirrored.num_replicas,
    "devices": list(mirrored.strategy.extended.worker_devices),
    "describe": mirrored.describe(32), "odd_batch": error(lambda: mirrored.describe(30)),
    "odd_trainer_batch": error(lambda: train(mirrored, "odd", batch_size=30)),
    "single_kind": single.kind, "single_replicas": single.num_replicas,
    "first_loss": float(np.mean(first)),
    "mirrored": train(mirrored, "mirrored"), "single": train(single, "single"),
    "xla_error": error(lambda: train(mirrored, "xla", jit_compile=True)),
}))
"""


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory):
    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT, str(tmp_path_factory.mktemp("mirrored"))],
        capture_output=True, text=True, env=_env(), timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mirrored_over_four_logical_cpus_reports_four_replicas(mirrored_run):
    assert mirrored_run["kind"] == "mirrored" and mirrored_run["replicas"] == 4
    assert [device.rsplit(":", 1)[-1] for device in mirrored_run["devices"]] == ["0", "1", "2", "3"]
    assert mirrored_run["describe"] == ("MirroredStrategy (mirrored), 4 replicas, precision "
                                        "float32, XLA off, global batch 32 (8 per replica)")
    for kind, message in (mirrored_run["odd_batch"], mirrored_run["odd_trainer_batch"]):
        assert kind == "ValueError" and "30 is not divisible by the 4 replicas" in message
    assert mirrored_run["single_kind"] == "cpu" and mirrored_run["single_replicas"] == 1


def test_mirrored_feeds_each_replica_a_per_replica_batch(mirrored_run):
    mirrored, single = mirrored_run["mirrored"], mirrored_run["single"]
    # One input pipeline per epoch, asked for per-replica batches of 32 / replicas ...
    assert mirrored["contexts"] == [[1, 4, 8]] * 2
    assert single["contexts"] == [[1, 1, 32]] * 2
    # ... and every replica's loss sees 8 examples (traced once per replica).
    assert mirrored["replica_batches"] and set(mirrored["replica_batches"]) == {8}
    assert len(mirrored["replica_batches"]) % 4 == 0
    assert single["replica_batches"] and set(single["replica_batches"]) == {32}


def test_mirrored_loss_curve_matches_one_device(mirrored_run):
    runs = mirrored_run["mirrored"], mirrored_run["single"]
    for run in runs:  # 2 epochs of 12 updates, each logged, an evaluation per epoch
        assert run["steps"] == 24 and len(run["losses"]) == 24 and len(run["history"]) == 2
    mirrored, single = (np.array(run["losses"]) for run in runs)
    np.testing.assert_allclose(mirrored, single, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(single[0], mirrored_run["first_loss"], rtol=1e-5)
    assert single[-1] < 0.8 * single[0]
    assert runs[0]["history"] == runs[1]["history"]
    for a, b in zip(*(run["weights"] for run in runs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_xla_with_several_cpu_replicas_fails_in_tf_and_is_refused(mirrored_run):
    """The refusal guards a real failure: if TensorFlow starts to allow it, lift the refusal."""
    import tensorflow as tf

    from kerasbert.distribute import resolve_strategy

    kind, message = mirrored_run["xla_error"]
    assert kind == "InvalidArgumentError" and "located in device" in message
    cpu = tf.config.list_physical_devices("CPU")[0]
    before = tf.config.get_logical_device_configuration(cpu)
    with pytest.raises(ValueError, match="jit_compile=true with 4 CPU replicas is not supported"):
        resolve_strategy(cpu_replicas=4, jit_compile="true")
    assert tf.config.get_logical_device_configuration(cpu) == before


# --- precision and XLA settings ------------------------------------------------------------------

def test_precision_by_device_and_policy_set_and_restored():
    import keras

    from kerasbert.distribute.precision import precision_policy, resolve_precision

    assert [resolve_precision("auto", device) for device in ("tpu", "gpu", "cpu")] == [
        "mixed_bfloat16", "mixed_float16", "float32"]
    assert resolve_precision("mixed_float16", "cpu") == "mixed_float16"
    with pytest.raises(ValueError, match="mixed_precision must be"):
        resolve_precision("float16", "gpu")
    from kerasbert.distribute import resolve_strategy

    with pytest.raises(ValueError, match="mixed_precision must be"):
        resolve_strategy(mixed_precision="float16", num_gpus=0)
    before = keras.mixed_precision.global_policy().name
    with pytest.raises(RuntimeError, match="inside"):
        with precision_policy("mixed_bfloat16"):
            layer = keras.layers.Dense(2)
            layer.build((None, 3))
            assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
            raise RuntimeError("inside")
    assert keras.mixed_precision.global_policy().name == before


def test_xla_defaults_by_device():
    from kerasbert.distribute.xla import resolve_jit_compile

    assert resolve_jit_compile("auto", "tpu", 8) is True
    assert resolve_jit_compile("auto", "gpu", 2) is True
    assert resolve_jit_compile("false", "gpu", 2) is False
    assert resolve_jit_compile("auto", "cpu", 4) is False
    assert resolve_jit_compile("true", "cpu", 1) is True
    with pytest.raises(ValueError, match="impossible on TPU"):
        resolve_jit_compile("false", "tpu", 8)
    with pytest.raises(ValueError, match="auto, true or false"):
        resolve_jit_compile("yes", "cpu", 1)


def test_wrap_optimizer_rescues_float16_gradients_that_underflow():
    """A loss of 1e-9 * x has float16 gradients below float16's smallest subnormal
    (6e-8): unscaled they vanish, with the LossScaleOptimizer the update is right."""
    import keras
    import tensorflow as tf

    from kerasbert.distribute import DistributionSetup, wrap_optimizer
    from kerasbert.distribute.precision import precision_policy

    def one_step(policy, wrap):
        setup = DistributionSetup(tf.distribute.get_strategy(), "cpu", 1, policy, False)
        with precision_policy(policy):
            layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
            layer.build((None, 4))
            optimizer = keras.optimizers.SGD(1e6)
            optimizer = wrap_optimizer(optimizer, setup) if wrap else optimizer
            features = tf.constant([[1.0, 2.0, 3.0, 4.0]])
            with tf.GradientTape() as tape:
                loss = 1e-9 * tf.cast(tf.reduce_sum(layer(features)), "float32")
                scaled = optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled, layer.trainable_variables)
            optimizer.apply_gradients(zip(gradients, layer.trainable_variables))
            return optimizer, 1.0 - layer.kernel.numpy().ravel()

    plain, step = one_step("float32", wrap=True)
    assert type(plain) is keras.optimizers.SGD
    np.testing.assert_allclose(step, [1e-3, 2e-3, 3e-3, 4e-3], rtol=1e-4)
    _, unscaled = one_step("mixed_float16", wrap=False)
    assert np.all(unscaled == 0)
    scaled_optimizer, rescued = one_step("mixed_float16", wrap=True)
    assert isinstance(scaled_optimizer, keras.optimizers.LossScaleOptimizer)
    np.testing.assert_allclose(rescued, step, rtol=1e-2)


# --- static shapes for TPU / XLA -----------------------------------------------------------------

def _batches(label_dtype="int32", drop_remainder=True, variable_length=False):
    """70 examples ({"token_ids": int32 [8] or [3..7]}, label), padded into batches of 32."""
    import tensorflow as tf

    def example(i):
        length = tf.cast(i % 5 + 3, tf.int32) if variable_length else 8
        return {"token_ids": tf.fill([length], tf.cast(i, tf.int32))}, tf.cast(i % 2, label_dtype)

    return tf.data.Dataset.range(70).map(example).padded_batch(32, drop_remainder=drop_remainder)


def test_check_static_batch_accepts_fixed_int32_batches():
    from kerasbert.distribute import check_static_batch

    assert check_static_batch(_batches(), 32, 4) == 8
    assert check_static_batch(_batches().element_spec, 32, 1) == 32


@pytest.mark.parametrize("kwargs, fragments", [
    ({"drop_remainder": False}, ["'features/token_ids' has dynamic shape (None, 8)",
                                 "'labels' has dynamic shape (None,)"]),
    ({"variable_length": True}, ["'features/token_ids' has dynamic shape (32, None)"]),
    ({"label_dtype": "int64"}, ["'labels' is int64, expected int32 or float32"]),
])
def test_check_static_batch_names_the_offending_feature(kwargs, fragments):
    from kerasbert.distribute import check_static_batch

    with pytest.raises(ValueError) as raised:
        check_static_batch(_batches(**kwargs), 32, 4)
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_check_static_batch_checks_batch_size_and_replicas():
    from kerasbert.distribute import check_static_batch

    with pytest.raises(ValueError, match=r"shape \(32, 8\), expected a batch dimension of 64 or 8"):
        check_static_batch(_batches(), 64, 8)
    with pytest.raises(ValueError, match="32 is not divisible by the 3 replicas"):
        check_static_batch(_batches(), 32, 3)


# --- flags ---------------------------------------------------------------------------------------

def test_define_flags_registers_once_and_parses():
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    define_flags(flag_values)
    flag_values(["prog", "--tpu=", "--mixed_precision=mixed_bfloat16", "--jit_compile=false",
                 "--cpu_replicas=2"])
    assert (flag_values.tpu, flag_values.mixed_precision, flag_values.jit_compile,
            flag_values.cpu_replicas, flag_values.num_gpus) == ("", "mixed_bfloat16", "false",
                                                                2, None)
    with pytest.raises(flags.IllegalFlagValueError, match="mixed_precision"):
        flag_values(["prog", "--mixed_precision=float16"])
    from kerasbert.cli.flags import UsageError, check_ranges

    flag_values(["prog", "--cpu_replicas=0"])  # ranges are checked by the one table
    with pytest.raises(UsageError, match="--cpu_replicas must be >= 1, got 0"):
        check_ranges(flag_values)
