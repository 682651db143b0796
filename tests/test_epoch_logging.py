"""Each epoch lands in the trial's MLflow run once, whichever way a worker group restarts:
from a checkpoint a step behind what rank 0 logged (the epoch runs again, its first values
stand), or from a checkpoint rank 0 died before logging (the restart logs it from the
checkpoint)."""
from mlflow.tracking import MlflowClient

from trainables.loops.worker import EPOCH_METRICS, log_checkpointed_epoch
from trainables.run_logger import RunLogger


class Rank0:
    is_main = True

    def __init__(self, log: RunLogger):
        self.log = log


def steps(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_an_epoch_is_logged_once_across_restarts(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("e", artifact_location=str(tmp_path / "a"))).info.run_id

    first = RunLogger(uri, run_id)
    first.epoch("finetune", 1, {"finetune/top1": 10.0})
    first.epoch("finetune", 2, {"finetune/top1": 20.0})
    # restart from the epoch-1 checkpoint: epoch 2 runs again
    second = RunLogger(uri, run_id)
    second.epoch("finetune", 2, {"finetune/top1": 21.0})
    second.epoch("finetune", 3, {"finetune/top1": 30.0})
    # rank 0 died after the epoch-4 checkpoint and before logging it: the restart logs it
    third = Rank0(RunLogger(uri, run_id))
    log_checkpointed_epoch({"stage": "finetune", EPOCH_METRICS: {"stage": "finetune", "step": 4,
                                                               "values": {"finetune/top1": 40.0}}}, third)
    log_checkpointed_epoch({"stage": "finetune", EPOCH_METRICS: {"stage": "finetune", "step": 4,
                                                               "values": {"finetune/top1": 41.0}}}, third)
    # another stage has its own epochs
    third.log.epoch("pretrain", 1, {"pretrain/loss": 0.5})

    assert steps(client, run_id, "finetune/top1") == [(1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0)]
    assert [s for s, _ in steps(client, run_id, "finetune/epoch")] == [1, 2, 3, 4]
    assert steps(client, run_id, "pretrain/loss") == [(1, 0.5)]


def test_set_up_metrics_are_logged_once_when_a_worker_group_restarts_before_its_first_checkpoint(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("e", artifact_location=str(tmp_path / "a"))).info.run_id
    RunLogger(uri, run_id).metrics({"model/encoder_gflops_full": 1.0, "pretrain/knn_top1": 12.5}, step=0)
    restarted = RunLogger(uri, run_id)       # the set-up runs again, the run keeps its first values
    restarted.metrics({"model/encoder_gflops_full": 1.0, "pretrain/knn_top1": 14.6, "timing/new_s": 2.0}, step=0)
    restarted.epoch("pretrain", 1, {"pretrain/knn_top1": 30.0})
    assert steps(client, run_id, "pretrain/knn_top1") == [(0, 12.5), (1, 30.0)]
    assert steps(client, run_id, "model/encoder_gflops_full") == [(0, 1.0)]
    assert steps(client, run_id, "timing/new_s") == [(0, 2.0)]
