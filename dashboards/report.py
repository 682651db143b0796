"""`maskray report`: a study's runs → a self-contained HTML report (plots embedded) plus its
PNGs and CSV tables, written to a folder and logged to the study's parent run."""
from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path

import pandas as pd

from dashboards import ablation, arms, papers, plots, timeline
from dashboards.study_runs import StudyRuns, load
from dashboards.arms import CONTROL_ARM
from dashboards.directions import checked_directions
from trainables import tracking
from trainables.tracking import MASK_FOLDER, RECONSTRUCTION_FOLDER

REPORT_FOLDER = "report"
USED_METHODS = ("pretrain.masking.strategy", "finetune.masking.strategy", "pretrain.target")


def build(uri: str, experiment: str, out_dir: Path, study_id: str | None = None,
          log_to_parent: bool = True) -> Path:
    """Writes report.html (and its figures and tables) into `out_dir`; → the HTML path."""
    runs = load(uri, experiment, study_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = ablation.ablation_table(runs.trials, runs.axes)
    figures = {
        "top1_by_axis.png": plots.top1_by_axis(runs.trials, runs.axes) if not runs.trials.empty else None,
        "top1_vs_gflops.png": plots.top1_vs_gflops(runs.trials, runs.axes) if not runs.trials.empty else None,
        "training_curves.png": plots.training_curves(runs.trials, runs.histories, runs.axes),
    }
    for name, png in figures.items():
        if png:
            (out_dir / name).write_bytes(png)
    runs.trials.to_csv(out_dir / "trials.csv", index=False)
    table.to_csv(out_dir / "ablation.csv", index=False)
    timing = timeline.timeline_table(runs.trials)
    timing.to_csv(out_dir / "timeline.csv", index=False)
    study_arms = arms.load_arms(uri, runs.trials, runs.axes) if not runs.trials.empty else []
    paired = arms.comparisons(study_arms, runs.axes, runs.reference) if study_arms else pd.DataFrame()
    paired.to_csv(out_dir / "paired.csv", index=False)
    findings = checked_directions(study_arms, runs.trials)
    findings.to_csv(out_dir / "directions.csv", index=False)
    galleries = {"Masks": _gallery(uri, runs, MASK_FOLDER),
                 "Reconstructions after pretraining": _gallery(uri, runs, RECONSTRUCTION_FOLDER)}
    page = out_dir / "report.html"
    page.write_text(_html(experiment, runs, table, figures, galleries, timing, paired, findings))
    if log_to_parent:
        client = tracking.client(uri)
        for path in sorted(out_dir.iterdir()):
            if path.is_file():
                client.log_artifact(runs.parent_run_id, str(path), REPORT_FOLDER)
    return page


def _gallery(uri: str, runs: StudyRuns, folder: str) -> list[tuple[str, bytes | None]]:
    """One picture of `folder` per arm (its first trial that has one): (caption, PNG); the
    from-scratch control gets (caption, None) where pretraining pictures are asked for."""
    client = tracking.client(uri)
    shown, out = set(), []
    for _, row in runs.trials.iterrows():
        combo = tuple(row.get(a) for a in runs.axes)
        if combo in shown:
            continue
        label = f"{row['key']} {' '.join(f'{a}={row.get(a)}' for a in runs.axes)}"
        if folder == RECONSTRUCTION_FOLDER and row.get("arm") == CONTROL_ARM:
            out.append((f"{label} — from scratch: no pretraining, nothing reconstructed", None))
            shown.add(combo)
            continue
        try:
            pictures = [a.path for a in client.list_artifacts(row["run_id"], folder) if a.path.endswith(".png")]
        except Exception:  # an artifact store the reader cannot reach: no gallery, still a report
            pictures = []
        with tempfile.TemporaryDirectory() as tmp:
            for path in pictures:
                local = client.download_artifacts(row["run_id"], path, tmp)
                out.append((f"{label} — {Path(path).name}", Path(local).read_bytes()))
        if pictures:
            shown.add(combo)
    return out


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _html(name: str, runs: StudyRuns, table: pd.DataFrame, figures: dict, galleries: dict, timing: pd.DataFrame,
          paired: pd.DataFrame, findings: pd.DataFrame) -> str:
    trials = runs.trials
    counts = trials["status"].value_counts().to_dict() if not trials.empty else {}
    finished = counts.get("FINISHED", 0)
    parts = [f"<h1>maskray report: {html.escape(name)}</h1>",
             f"<p>Execution <code>{html.escape(runs.study_id)}</code> (MLflow parent run "
             f"<code>{runs.parent_run_id}</code>): {len(trials)} trials — "
             + ", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())) + ".</p>"]
    if finished == 0:
        parts.append('<p class="empty">No trial has finished yet: there are no results to compare. '
                     "Run <code>maskray report</code> again when trials finish.</p>")
    else:
        parts += ["<h2>Ablation table</h2>",
                  "<p>Mean ± 95 % confidence interval (Student t) over seeds; ★ marks the best test top-1.</p>",
                  _table_html(table, runs.axes)]
        parts += _paired_html(paired, runs.axes)
        parts += _directions_html(findings)
    for file, title in (("top1_by_axis.png", "Top-1 by axis"), ("top1_vs_gflops.png", "Accuracy vs compute"),
                        ("training_curves.png", "Training curves")):
        if figures.get(file):
            parts += [f"<h2>{title}</h2>", _img(figures[file], title)]
    for title, gallery in galleries.items():
        if not any(png for _, png in gallery):
            continue
        parts.append(f"<h2>{title}</h2><div class=gallery>")
        parts += [f"<figure>{_img(png, label) if png else ''}<figcaption>{html.escape(label)}</figcaption></figure>"
                  for label, png in gallery]
        parts.append("</div>")
    if not timing.empty:
        parts += ["<h2>Where each trial's time went</h2>",
                  "<p>Seconds, from each trial's timeline (<code>timeline/*_s</code>): what is not "
                  "training is the cost of running it as a trial.</p>",
                  timing.round(2).to_html(index=False, border=0, classes="timeline", na_rep="–")]
    values = set()
    for column in [*runs.axes, *USED_METHODS]:
        if column in trials:
            values |= set(trials[column].dropna().astype(str))
    published = papers.relevant(runs.axes, values)
    if published:
        parts.append("<h2>Published numbers (theirs, not ours)</h2>"
                     "<p>From the seed papers, at their scale (ViT-B, full datasets); compare trends, "
                     "not absolute values.</p>")
        for p in published:
            parts.append(f"<h3>{html.escape(p.title)}</h3><p class=source>{html.escape(p.source)} "
                         f"[{html.escape(p.status)}]</p>")
            parts.append(pd.DataFrame(list(p.rows), columns=list(p.columns)).to_html(index=False, border=0,
                                                                                   classes="published"))
    style = ("body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;"
             "text-align:right}th{background:#f4f4f4}tr.best td{font-weight:bold;background:#eef8ee}"
             "img{max-width:100%}.gallery figure{display:inline-block;max-width:640px;margin:.5em}"
             ".source{color:#666;font-size:90%}")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>maskray report: {html.escape(name)}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _paired_html(paired: pd.DataFrame, axes: list[str]) -> list[str]:
    """Each arm's paired difference from the from-scratch control and from the reference arm."""
    if paired.empty:
        return []
    shown = [c for c in ("Δ vs scratch", "Δ vs reference") if (paired[c] != "–").any()]
    if not shown:
        return ["<p>No paired comparison: the study has no control arm or reference arm with per-clip "
                "predictions on the same seeds.</p>"]
    readings = [r for c in shown for r in paired[f"{c}: reading"] if r]
    return ["<h2>Paired comparisons</h2>",
            "<p>Differences in test top-1 (points) with 95 % paired bootstrap intervals: the same seeds and "
            "the same test clips on both sides (one seed: over clips, with McNemar's exact test).</p>",
            paired[[*axes, "seeds", *shown]].to_html(index=False, border=0, classes="paired"),
            "<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in readings) + "</ul>"]


def _directions_html(findings: pd.DataFrame) -> list[str]:
    """The seed papers' findings that this study's arms can check, each with its verdict."""
    if findings.empty:
        return []
    return ["<h2>The papers' findings, checked here</h2>",
            "<p>Each finding as A ≥ B + margin, on this study's arms (points of test top-1, paired 95 % "
            "bootstrap interval): <b>reproduced</b> when the interval lies above the margin, "
            "<b>contradicted</b> below it, <b>not separated</b> when it contains it. Ours is a laptop-scale "
            "study; theirs ViT-B on full datasets.</p>",
            findings.to_html(index=False, border=0, classes="directions", na_rep="–")]


def _table_html(table: pd.DataFrame, axes: list[str]) -> str:
    if table.empty:
        return "<p>No finished trial has metrics yet.</p>"
    labels = [c[:-len(" mean")] for c in table.columns if c.endswith(" mean")]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in [*axes, *labels, "seeds", ""])
    body = []
    for _, row in table.iterrows():
        cells = [html.escape(str(row[a])) for a in axes]
        for label in labels:
            digits = 1 if "%" in label else 3
            cells.append(ablation.format_cell(row[f"{label} mean"], row[f"{label} ci95"], digits))
        cells += [str(row["seeds"]), "★" if row["best"] else ""]
        body.append(f"<tr class={'best' if row['best'] else 'cell'}>" + "".join(f"<td>{c}</td>" for c in cells)
                    + "</tr>")
    return f"<table class=ablation><tr>{head}</tr>{''.join(body)}</table>"
