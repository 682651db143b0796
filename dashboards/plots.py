"""The report's figures, each returned as PNG bytes (matplotlib, Agg)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dashboards.ablation import ci95  # noqa: E402
from dashboards.study_runs import CURVES  # noqa: E402
from trainables.tracking import PRETRAIN_LOSS_FLOOR  # noqa: E402
from trainables.tracking import TEST_TOP1 as TOP1  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _label(row: pd.Series, axes: list[str]) -> str:
    return " ".join(f"{a.rsplit('.', 1)[-1]}={row[a]}" for a in axes) or "all trials"


def _groups(done: pd.DataFrame, axes: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """(label, trials) per combination of the axes' values."""
    if not axes:
        return [("all trials", done)]
    return [(_label(g.iloc[0], axes), g) for _, g in done.groupby(axes)]


def _error(half: float) -> float:
    return 0.0 if half != half else half  # NaN (one seed): no bar


def _percent_axis(ax) -> None:
    """Top-1 is a percentage: a wide interval over few seeds is drawn up to 0 and 100 %."""
    ax.set_ylim(0, 100)
    ax.set_ylabel("test top-1 (%)")


def top1_by_axis(trials: pd.DataFrame, axes: list[str]) -> bytes | None:
    """Test top-1 against the mask ratio, one line per other axis value (strategy, target…);
    without a ratio axis, one bar per axis combination. Error bars: 95 % CI over seeds;
    each seed's result is a dot, since two or three seeds give very wide intervals."""
    done = trials[trials["status"] == "FINISHED"]
    if done.empty or TOP1 not in done:
        return None
    ratio = next((a for a in axes if a.endswith("masking.ratio")), None)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    if ratio:
        for label, group in _groups(done, [a for a in axes if a != ratio]):
            stats = [(x, *ci95(g[TOP1])[:2]) for x, g in group.groupby(ratio)]
            xs, means, halves = zip(*stats)
            line = ax.errorbar(xs, means, yerr=[_error(h) for h in halves], marker="o", capsize=3, label=label)
            ax.scatter(group[ratio], group[TOP1], s=12, alpha=0.5, color=line[0].get_color())
        ax.set_xlabel(ratio)
        ax.legend(fontsize=8)
    else:
        groups = _groups(done, axes)
        stats = [ci95(g[TOP1])[:2] for _, g in groups]
        ax.bar(range(len(stats)), [m for m, _ in stats], yerr=[_error(h) for _, h in stats], capsize=3,
               color="tab:blue", alpha=0.7)
        for i, (_, g) in enumerate(groups):
            ax.scatter([i] * len(g), g[TOP1], s=12, color="black", zorder=3)
        ax.set_xticks(range(len(stats)), [label for label, _ in groups], rotation=30, ha="right", fontsize=8)
    _percent_axis(ax)
    ax.set_title("fine-tuned top-1 (mean, 95 % CI over seeds; dots: seeds)")
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
    """Accuracy against encoder compute per clip (pretraining and fine-tuning/inference): one
    point per axis combination (mean and 95 % CI over seeds), named in the legend, so trials
    that share a compute budget do not print their labels over each other."""
    done = trials[trials["status"] == "FINISHED"]
    panels = [(c, t) for c, t in (("model/encoder_gflops_pretrain", "pretraining"),
                                  ("model/encoder_gflops_finetune", "fine-tuning / inference"))
              if c in done and done[c].notna().any()]
    if done.empty or TOP1 not in done or not panels:
        return None
    fig, axs = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4), squeeze=False)
    for ax, (column, title) in zip(axs[0], panels):
        points = []
        for label, group in _groups(done[done[column].notna() & done[TOP1].notna()], axes):
            mean, half, _ = ci95(group[TOP1])
            x = float(group[column].mean())
            ax.errorbar([x], [mean], yerr=[_error(half)], marker="o", capsize=3, linestyle="none", label=label)
            points.append((x, mean))
        front = pareto_front(points)
        if front:
            ax.plot(*zip(*front), "k--", linewidth=1, label="Pareto front")
        ax.legend(fontsize=7)
        ax.set_xlabel(f"encoder GFLOPs per clip, {title}")
        _percent_axis(ax)
    return _png(fig)


def training_curves(trials: pd.DataFrame, histories: dict[str, pd.DataFrame], axes: list[str]) -> bytes | None:
    """Per epoch: the pretraining loss (with the loss of predicting zero, dashed, where the
    target has one), the fine-tuning loss and the validation top-1; one line per trial, each
    point marked, so a one-epoch stage still shows."""
    if not any(not h.empty for h in histories.values()):
        return None
    fig, axs = plt.subplots(1, 3, figsize=(15, 4))
    floors = []
    for _, row in trials.iterrows():
        history = histories.get(row["run_id"])
        if history is None or history.empty:
            continue
        label = f"{row['key']} {_label(row, axes + ['seed'])}"
        for ax, metric in zip(axs, CURVES):
            points = history[history["metric"] == metric].sort_values("step")
            if not points.empty:
                ax.plot(points["step"], points["value"], marker="o", markersize=3, label=label)
        floors += list(history.loc[history["metric"] == PRETRAIN_LOSS_FLOOR, "value"])
    if floors:
        axs[0].axhline(sum(floors) / len(floors), color="black", linestyle="--", linewidth=1,
                       label="predicting zero (mean floor)")
    for ax, metric in zip(axs, CURVES):
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    if floors:
        axs[0].legend(fontsize=7)
    axs[-1].legend(fontsize=7)
    return _png(fig)
