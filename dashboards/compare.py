"""`maskray compare RUN_A RUN_B`: what differs between two trials' configs, and by how much
their metrics differ. A run is an MLflow run id, or a trial key (t003) of a study's
latest execution with --study."""
from __future__ import annotations

from orchestrator.errors import UserInputError
from trainables import tracking
from trainables.tracking import FINETUNE_LOSS, PRETRAIN_LOSS, TEST_TOP1, TEST_TOP5, VAL_TOP1

HEADLINE = (TEST_TOP1, VAL_TOP1, TEST_TOP5, PRETRAIN_LOSS, FINETUNE_LOSS,
            "model/encoder_gflops_pretrain", "model/encoder_gflops_finetune", "model/encoder_gflops_full")


def resolve(uri: str, ref: str, study: str | None):
    client = tracking.client(uri)
    if study and ref.startswith("t") and ref[1:].isdigit():
        from dashboards.study_runs import load
        runs = load(uri, study, with_histories=False)
        match = runs.trials[runs.trials["key"] == ref]
        if match.empty:
            raise UserInputError("compare", [f"study {study!r} has no trial {ref!r} in its latest execution"])
        ref = match.iloc[0]["run_id"]
    try:
        return client.get_run(ref)
    except Exception:
        raise UserInputError("compare", [f"no MLflow run {ref!r} in {uri}"
                                         + ("" if study else " (for a trial key such as t003, pass --study)")]) from None


def compare(uri: str, a: str, b: str, study: str | None = None) -> str:
    run_a, run_b = resolve(uri, a, study), resolve(uri, b, study)
    pa, pb = run_a.data.params, run_b.data.params
    lines = [f"A = {run_a.info.run_name} ({run_a.info.run_id}, {run_a.info.status.lower()})",
             f"B = {run_b.info.run_name} ({run_b.info.run_id}, {run_b.info.status.lower()})", "", "config:"]
    changed = [k for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
    width = max((len(k) for k in changed), default=10)
    lines += [f"  {k:{width}s}  {pa.get(k, '—')}  →  {pb.get(k, '—')}" for k in changed] or ["  (identical)"]
    lines += ["", "metrics:"]
    ma, mb = run_a.data.metrics, run_b.data.metrics
    names = [m for m in HEADLINE if m in ma or m in mb]
    names += sorted(m for m in set(ma) | set(mb) if m not in names and not m.startswith("data/"))
    width = max((len(m) for m in names), default=10)
    for m in names:
        va, vb = ma.get(m), mb.get(m)
        delta = f"{vb - va:+.4g}" if va is not None and vb is not None else ""
        lines.append(f"  {m:{width}s}  {_fmt(va):>10s}  {_fmt(vb):>10s}  {delta}")
    return "\n".join(lines)


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.4g}"
