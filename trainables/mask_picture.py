"""A picture of a real clip with its mask at every tubelet time step, for the trial's run
(and, for keyframe token dropout, the tokens left after each dropping block)."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import torch

from trainables.data.clips import normalize, picture_frames
from trainables.masking import get_strategy


def draw_mask_picture(frames: np.ndarray, rows: list[tuple[str, np.ndarray]], grid: tuple[int, int, int],
                      tubelet: int, title: str, path: str) -> None:
    """frames (T, H, W, 3) in [0, 1]; each row (label, mask (N,), True = hidden) is drawn
    under the clip with its hidden patches greyed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, gh, gw = grid
    size = frames.shape[1]
    patch = size // gh
    fig, axes = plt.subplots(1 + len(rows), t, figsize=(1.6 * t, 1.8 * (1 + len(rows))), squeeze=False)
    for step in range(t):
        frame = frames[step * tubelet]
        axes[0][step].imshow(frame)
        axes[0][step].set_title(f"t={step}", fontsize=8)
        for r, (label, mask) in enumerate(rows, start=1):
            m = mask.reshape(t, gh, gw)[step]
            shown = frame.copy()
            cell = np.kron(m, np.ones((patch, patch), dtype=bool))[:size, :size]
            shown[cell] = 0.5 * shown[cell] + 0.25
            axes[r][step].imshow(shown)
            axes[r][step].set_xlabel(f"{int(m.sum())}/{gh * gw} hidden", fontsize=7)
            if step == 0:
                axes[r][step].set_ylabel(label, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def mask_rows(sample: dict, masking, grid, model=None) -> list[tuple[str, np.ndarray]]:
    """The rows to draw: the input mask, or for keyframe dropout the tokens dropped by
    each dropping block of `model`'s encoder."""
    if "mask" in sample:
        return [("masked", sample["mask"].numpy())]
    if model is None or not get_strategy(masking.strategy).in_encoder:
        return []
    encoder = model.encoder
    n = grid[0] * grid[1] * grid[2]
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        _, kept = encoder.forward_with_positions(normalize(sample["clip"][None]), None, model.token_dropout)
    encoder.train(was_training)
    rows = []
    for layer in model.token_dropout.layers:
        hidden = np.ones(n, dtype=bool)
        hidden[kept[layer - 1][0].cpu().numpy()] = False
        rows.append((f"after block {layer}", hidden))
    return rows


def log_mask_picture(dataset, cfg, log, stage: str, model=None) -> None:
    """Draws the first readable clip of `dataset` with the stage's mask and logs it."""
    for index in range(min(len(dataset), 8)):
        sample = dataset.samples(index)[0]
        if "clip" in sample:
            break
    else:
        return
    masking = dataset.masking
    rows = mask_rows(sample, masking, cfg.token_grid, model)
    if not rows:
        return
    frames = picture_frames(sample["clip"])
    title = (f"{stage}: {masking.strategy} "
             f"{'keep ' + str(masking.keep_rate) if get_strategy(masking.strategy).in_encoder else 'ratio ' + str(masking.ratio)}"
             f" — {os.path.basename(dataset.items[index][0])}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{stage}_mask.png")
        draw_mask_picture(frames, rows, cfg.token_grid, cfg.model.tubelet_size, title, path)
        log.artifact(path, "masks")
