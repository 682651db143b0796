"""The report's figures, each returned as PNG bytes (matplotlib, Agg)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dashboards.ablation import ci95  # noqa: E402

TOP1 = "finetune/test_top1"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _label(row: pd.Series, axes: list[str]) -> str:
    return " ".join(f"{a.rsplit('.', 1)[-1]}={row[a]}" for a in axes) or "all trials"


def top1_by_axis(trials: pd.DataFrame, axes: list[str]) -> bytes | None:
    """Test top-1 against the mask ratio, one line per other axis value (strategy, target…);
    without a ratio axis, one bar per axis combination. Error bars: 95 % CI over seeds."""
    done = trials[trials["status"] == "FINISHED"]
    if done.empty or TOP1 not in done:
        return None
    ratio = next((a for a in axes if a.endswith("masking.ratio")), None)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    if ratio:
        others = [a for a in axes if a != ratio]
        groups = done.groupby(others) if others else [("all", done)]
        for name, group in groups:
            stats = [(x, *ci95(g[TOP1])[:2]) for x, g in group.groupby(ratio)]
            xs, means, halves = zip(*stats)
            ax.errorbar(xs, means, yerr=[0 if h != h else h for h in halves], marker="o", capsize=3,
                        label=", ".join(map(str, name if isinstance(name, tuple) else (name,))))
        ax.set_xlabel(ratio)
        ax.legend(fontsize=8)
    else:
        groups = list(done.groupby(axes)) if axes else [("all", done)]
        labels = [", ".join(map(str, k if isinstance(k, tuple) else (k,))) for k, _ in groups]
        stats = [ci95(g[TOP1])[:2] for _, g in groups]
        ax.bar(range(len(stats)), [m for m, _ in stats], yerr=[0 if h != h else h for _, h in stats], capsize=3)
        ax.set_xticks(range(len(stats)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("fine-tuned top-1 (mean, 95 % CI over seeds)")
    return _png(fig)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both lower compute and higher accuracy."""
    front, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def top1_vs_gflops(trials: pd.DataFrame, axes: list[str]) -> bytes | None:
    """Accuracy against encoder compute per clip (pretraining and fine-tuning/inference)."""
    done = trials[trials["status"] == "FINISHED"]
    panels = [(c, t) for c, t in (("model/encoder_gflops_pretrain", "pretraining"),
                                  ("model/encoder_gflops_finetune", "fine-tuning / inference"))
              if c in done and done[c].notna().any()]
    if done.empty or TOP1 not in done or not panels:
        return None
    fig, axs = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4), squeeze=False)
    for ax, (column, title) in zip(axs[0], panels):
        rows = done[done[column].notna() & done[TOP1].notna()]
        for _, row in rows.iterrows():
            ax.scatter(row[column], row[TOP1], s=25)
            ax.annotate(_label(row, axes), (row[column], row[TOP1]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        front = pareto_front(list(zip(rows[column], rows[TOP1])))
        if front:
            ax.plot(*zip(*front), "k--", linewidth=1, label="Pareto front")
            ax.legend(fontsize=8)
        ax.set_xlabel(f"encoder GFLOPs per clip, {title}")
        ax.set_ylabel("test top-1 (%)")
    return _png(fig)


def training_curves(trials: pd.DataFrame, histories: dict[str, pd.DataFrame], axes: list[str]) -> bytes | None:
    metrics = ("pretrain/loss", "finetune/loss", "finetune/top1")
    if not any(not h.empty for h in histories.values()):
        return None
    fig, axs = plt.subplots(1, 3, figsize=(15, 4))
    for _, row in trials.iterrows():
        history = histories.get(row["run_id"])
        if history is None or history.empty:
            continue
        label = f"{row['key']} {_label(row, axes + ['seed'])}"
        for ax, metric in zip(axs, metrics):
            points = history[history["metric"] == metric].sort_values("step")
            if not points.empty:
                ax.plot(points["step"], points["value"], marker=".", label=label)
    for ax, metric in zip(axs, metrics):
        ax.set_title(metric)
        ax.set_xlabel("epoch")
    axs[-1].legend(fontsize=7)
    return _png(fig)
