"""KerasTuner's distributed mode: one chief holds the oracle over gRPC, workers run trials.

    KERASTUNER_TUNER_ID=chief   KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=tuner0  KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=tuner1  ...

(or the flags --tuner_id, --oracle_ip, --oracle_port, which set those
variables). Without them the search runs in one process.

Two changes to KerasTuner's own serving make a killed process resumable
without losing or repeating a trial:

- the chief polls every second for the end of the search (KerasTuner sleeps
  20 s between polls), and a restarted chief gives each worker back the
  trial it was running (see `kerasbert.tuning.oracles`);
- workers retry a call that the chief's death cut off, and reconnect within
  seconds of its restart (gRPC would back off up to two minutes).
"""

import json
import os
import time

TUNER_ID, ORACLE_IP, ORACLE_PORT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                                    "KERASTUNER_ORACLE_PORT")
SINGLE, CHIEF, WORKER = "single", "chief", "worker"

# Retry calls cut off by a restarting chief; `wait_for_ready` then waits for it to be back.
_SERVICE_CONFIG = {"methodConfig": [{
    "name": [{"service": "keras_tuner.Oracle"}],
    "retryPolicy": {"maxAttempts": 5, "initialBackoff": "1s", "maxBackoff": "10s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
}]}
_CHANNEL_OPTIONS = [("grpc.enable_retries", 1),
                    ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
                    ("grpc.initial_reconnect_backoff_ms", 500),
                    ("grpc.min_reconnect_backoff_ms", 500),
                    ("grpc.max_reconnect_backoff_ms", 2000)]


def configure(tuner_id=None, oracle_ip=None, oracle_port=None):
    """Set the KERASTUNER_* variables from flags (flags win over the environment)
    and return this process's role: SINGLE, CHIEF or WORKER.

    Raises:
        ValueError: when only some of the three are given.
    """
    for name, value in ((TUNER_ID, tuner_id), (ORACLE_IP, oracle_ip), (ORACLE_PORT, oracle_port)):
        if value not in (None, ""):
            os.environ[name] = str(value)
    given = [name for name in (TUNER_ID, ORACLE_IP, ORACLE_PORT) if os.environ.get(name)]
    if not given or given == [TUNER_ID]:
        return SINGLE
    if len(given) < 3:
        missing = sorted({TUNER_ID, ORACLE_IP, ORACLE_PORT} - set(given))
        raise ValueError("distributed tuning needs the tuner id, the oracle's IP and its port: "
                         f"{', '.join(missing)} not set (flags --tuner_id, --oracle_ip, "
                         "--oracle_port)")
    return CHIEF if "chief" in os.environ[TUNER_ID] else WORKER


def role():
    """SINGLE, CHIEF or WORKER, from the environment."""
    if not os.environ.get(ORACLE_IP):
        return SINGLE
    return CHIEF if "chief" in os.environ.get(TUNER_ID, "") else WORKER


def serve_oracle(oracle, poll_seconds=1.0):
    """Serve `oracle` to the workers until the search is over (every worker told to
    stop and no trial running). Blocks.

    Raises:
        RuntimeError: when the address cannot be listened on.
    """
    from concurrent import futures

    import grpc
    # KerasTuner serves its oracle only from a loop that never returns and has no
    # public API for the gRPC service: its internals (protos, OracleServicer and its
    # stop_triggered, exit_chief) are pinned on KerasTuner 1.4.8 by
    # tests/test_keras_tuner_internals.py.
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    address = f"{os.environ[ORACLE_IP]}:{os.environ[ORACLE_PORT]}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if not server.add_insecure_port(address):
        raise RuntimeError(f"the chief cannot listen on {address}")
    server.start()
    print(f"oracle serving on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and exit_chief(oracle)):
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=2).wait()


def connect_worker(oracle_client):
    """Point a KerasTuner OracleClient at the chief through a channel that retries
    calls cut off by a chief restart and reconnects quickly."""
    import grpc
    # OracleClient.stub and protos: no public API (pinned on KerasTuner 1.4.8 by
    # tests/test_keras_tuner_internals.py).
    from keras_tuner.src import protos

    address = f"{os.environ[ORACLE_IP]}:{os.environ[ORACLE_PORT]}"
    channel = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
    oracle_client.stub = protos.get_service_grpc().OracleStub(channel)
    return oracle_client
