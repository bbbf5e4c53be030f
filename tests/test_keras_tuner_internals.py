"""KerasTuner internals kerasbert.tuning relies on where KerasTuner has no public API.

Pinned on KerasTuner 1.4.8: each test fails if a later KerasTuner renames or
changes what kerasbert/tuning/{oracles,tuner,distributed}.py assume, so that
an upgrade breaks here, with the assumption named, not in a resumed search.
"""

import keras_tuner
import pytest


def _oracle(directory, cls=keras_tuner.oracles.RandomSearchOracle):
    oracle = cls(objective=keras_tuner.Objective("accuracy", "max"), max_trials=4, seed=1)
    oracle._set_project_dir(str(directory), "trials")
    hp = keras_tuner.HyperParameters()
    hp.Choice("batch_size", [8, 16, 32, 64])
    oracle.update_space(hp)
    return oracle


def test_public_names_used_are_the_implementations():
    from keras_tuner.src.engine import base_tuner, oracle, trial

    assert keras_tuner.synchronized is oracle.synchronized
    assert keras_tuner.engine.trial.TrialStatus is trial.TrialStatus
    assert keras_tuner.engine.base_tuner.BaseTuner is base_tuner.BaseTuner


def test_reload_queues_running_trials_in_the_retry_queue_that_create_trial_takes_from(
        tmp_path):
    # oracles.ResumableOracleMixin.reload empties _retry_queue of the trials it hands
    # back to their own tuners.
    oracle = _oracle(tmp_path)
    assert oracle._retry_queue == []
    running = oracle.create_trial("tuner1")
    oracle.save()
    resumed = _oracle(tmp_path)
    resumed.reload()
    assert resumed._retry_queue == [running.trial_id]
    assert resumed.ongoing_trials == {}
    assert resumed.create_trial("tuner0").trial_id == running.trial_id
    assert resumed._retry_queue == []


def test_oracle_saves_through_the_overridden_private_methods(tmp_path):
    # ResumableOracleMixin.save / _save_trial write atomically to these same files.
    saved = []

    class Recording(keras_tuner.oracles.RandomSearchOracle):
        def _save_trial(self, trial):
            saved.append(trial.trial_id)
            super()._save_trial(trial)

    oracle = _oracle(tmp_path, Recording)
    assert oracle._get_oracle_fname() == str(tmp_path / "trials" / "oracle.json")
    trial = oracle.create_trial("tuner0")
    assert saved == [trial.trial_id]
    assert oracle._get_trial_dir(trial.trial_id) == str(
        tmp_path / "trials" / f"trial_{trial.trial_id}")
    oracle.update_trial(trial.trial_id, {"accuracy": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert saved == [trial.trial_id] * 3
    assert (tmp_path / "trials" / f"trial_{trial.trial_id}" / "trial.json").exists()
    assert (tmp_path / "trials" / "oracle.json").exists()


def test_grid_oracle_walk_is_a_linked_list_and_a_populate_queue(tmp_path):
    # GridSearchOracle.get_state / set_state save and restore these.
    from keras_tuner.src.tuners.gridsearch import LinkedList

    from kerasbert.tuning.oracles import _linked_items

    linked = LinkedList()
    assert linked._next_index[None] is None
    for item in ("a", "c"):
        linked.insert(item)
    linked.insert("b", "a")
    linked.insert("d")
    assert linked._memory == ["a", "c", "b", "d"]
    assert linked.next("a") == "b" and linked.next("d") is None
    assert _linked_items(linked) == ["a", "b", "c", "d"]

    oracle = _oracle(tmp_path, keras_tuner.oracles.GridSearchOracle)
    assert isinstance(oracle._ordered_ids, LinkedList) and oracle._populate_next == []
    first = oracle.create_trial("tuner0")
    assert _linked_items(oracle._ordered_ids) == [first.trial_id]
    assert isinstance(oracle._populate_next, list)
    # The grid state is not saved by KerasTuner itself (why kerasbert saves it).
    assert "grid" not in oracle.get_state() and "ordered_ids" not in str(oracle.get_state())


def test_base_tuner_private_methods_the_tuner_calls(tmp_path, monkeypatch):
    from keras_tuner.engine import base_tuner, trial as trial_module

    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)

    class Failing(base_tuner.BaseTuner):
        def run_trial(self, trial, *args, **kwargs):
            raise keras_tuner.errors.FailedTrialError("no luck")

    tuner = Failing(_oracle(tmp_path / "oracle"), hypermodel=lambda hp: None,
                    directory=str(tmp_path), project_name="trials")
    assert tuner._is_worker() is False
    assert tuner._get_tuner_fname() == str(tmp_path / "trials" / f"{tuner.tuner_id}.json")
    trial = tuner.oracle.create_trial(tuner.tuner_id)
    tuner._try_run_and_update_trial(trial)  # records the failure, does not raise
    assert trial.status == trial_module.TrialStatus.FAILED and "no luck" in trial.message

    class Fatal(Failing):
        def run_trial(self, trial, *args, **kwargs):
            raise keras_tuner.errors.FatalValueError("stop")

    fatal = Fatal(_oracle(tmp_path / "oracle2"), hypermodel=lambda hp: None,
                  directory=str(tmp_path / "fatal"), project_name="trials")
    with pytest.raises(keras_tuner.errors.FatalValueError):
        fatal._try_run_and_update_trial(fatal.oracle.create_trial(fatal.tuner_id))


def test_oracle_service_internals_the_chief_and_workers_use(tmp_path, monkeypatch):
    # distributed.serve_oracle / connect_worker.
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief
    from keras_tuner.src.distribute.oracle_client import OracleClient

    service = protos.get_service_grpc()
    assert callable(service.add_OracleServicer_to_server) and callable(service.OracleStub)
    oracle = _oracle(tmp_path)
    oracle.max_trials = 1
    servicer = OracleServicer(oracle)
    assert servicer.stop_triggered is False and exit_chief(oracle)
    request = protos.get_service().CreateTrialRequest(tuner_id="tuner0")
    servicer.CreateTrial(request, None)
    assert not exit_chief(oracle)  # a trial is running
    servicer.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id="tuner1"), None)
    assert servicer.stop_triggered is True  # max_trials reached: STOPPED

    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    client = OracleClient(oracle)
    assert hasattr(client, "stub")
    stub = client.stub
    client.stub = object()  # every call goes through .stub, which connect_worker replaces
    with pytest.raises(AttributeError):
        client.get_space()
    client.stub = stub
