"""A picture of a real clip with its mask at every tubelet time step, for the trial's run."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from trainables.data.clips import IMAGENET_MEAN, IMAGENET_STD


def draw_mask_picture(frames: np.ndarray, mask: np.ndarray, grid: tuple[int, int, int],
                      tubelet: int, title: str, path: str) -> None:
    """frames (T, H, W, 3) in [0, 1]; mask (N,) True = masked. Row 1: the clip, row 2: what the
    encoder sees (masked patches greyed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, gh, gw = grid
    m = mask.reshape(t, gh, gw)
    size = frames.shape[1]
    patch = size // gh
    fig, axes = plt.subplots(2, t, figsize=(1.6 * t, 3.6), squeeze=False)
    for step in range(t):
        frame = frames[step * tubelet]
        shown = frame.copy()
        cell = np.kron(m[step], np.ones((patch, patch), dtype=bool))[:size, :size]
        shown[cell] = 0.5 * shown[cell] + 0.25
        for row, image in enumerate((frame, shown)):
            ax = axes[row][step]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0][step].set_title(f"t={step}", fontsize=8)
        axes[1][step].set_xlabel(f"{int(m[step].sum())}/{gh * gw} masked", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def log_mask_picture(dataset, cfg, log) -> None:
    """Draws the first readable clip of `dataset` with its training mask and logs it."""
    for index in range(min(len(dataset), 8)):
        sample = dataset[index]
        if "clip" in sample:
            break
    else:
        return
    frames = (sample["clip"] * IMAGENET_STD + IMAGENET_MEAN).clamp(0, 1).permute(1, 2, 3, 0).numpy()
    m = cfg.pretrain.masking
    title = f"{m.strategy} masking, ratio {m.ratio} — {os.path.basename(dataset.items[index][0])}"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mask_picture.png")
        draw_mask_picture(frames, sample["mask"].numpy(), cfg.token_grid, cfg.model.tubelet_size, title, path)
        log.artifact(path, "masks")
