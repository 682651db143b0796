"""What the user sees while a study runs: one line per epoch and per finished trial."""
from __future__ import annotations

import sys
import time

from ray.tune import Callback

from orchestrator.study import axes_label
from trainables.tracking import FINETUNE_LOSS, PRETRAIN_LOSS, TEST_TOP1, VAL_TOP1, Stage


def _label(trial) -> str:
    t = trial.config["trial"]
    return f"{t['key']} [{axes_label(t['axes'])}]"


class ProgressPrinter(Callback):
    def __init__(self, total_trials: int, stream=sys.stdout):
        self.total = total_trials
        self.started = time.monotonic()
        self.stream = stream

    def setup(self, **info):
        self.started = time.monotonic()       # also when a resumed study starts again

    def _say(self, trials, text: str, ending=None) -> None:
        """`ending`: the trial this line reports the end of (Tune may not have set its status yet)."""
        elapsed = time.monotonic() - self.started
        ended = sum(t.status in ("TERMINATED", "ERROR") or t is ending for t in trials)
        print(f"[{elapsed:6.0f}s {ended}/{self.total} done] {text}", file=self.stream, flush=True)

    def on_trial_start(self, iteration, trials, trial, **info):
        self._say(trials, f"{_label(trial)} started")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        stage = result.get("stage", "?")
        if stage == Stage.FAILED:      # the trial's error follows in on_trial_error
            return
        if result.get("already_finished"):
            self._say(trials, f"{_label(trial)} had already finished (its MLflow run has its results): not rerun")
            return
        cfg = trial.config["trial"]["config"][stage] if stage in (Stage.PRETRAIN, Stage.FINETUNE) else {}
        epoch = f"epoch {result.get('epoch', '?')}/{cfg.get('epochs', '?')}"
        if stage == Stage.PRETRAIN:
            detail = f"loss {result.get(PRETRAIN_LOSS, float('nan')):.4f}"
            if result.get("reused_from"):
                detail += f" (reused from {result['reused_from']})"
        else:
            detail = (f"loss {result.get(FINETUNE_LOSS, float('nan')):.3f} "
                      f"val top-1 {result.get(VAL_TOP1, float('nan')):.1f}%")
        self._say(trials, f"{_label(trial)} {stage} {epoch} {detail}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        top1 = (trial.last_result or {}).get(TEST_TOP1)
        self._say(trials, f"{_label(trial)} finished" + (f": test top-1 {top1:.1f}%" if top1 is not None else ""),
                  ending=trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._say(trials, f"{_label(trial)} FAILED (details in {trial.local_path or 'the Tune results'})",
                  ending=trial)
