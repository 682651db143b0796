"""Pictures of a real clip at every tubelet time step, for the trial's run: its mask (and,
for keyframe token dropout, the tokens left after each dropping block), and after pretraining
what the model reconstructs of the hidden tokens. Clips are drawn at least PICTURE_PX wide,
upscaled nearest-neighbour so token edges stay sharp; hidden tokens are solid grey."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import torch

from trainables.data.clips import IMAGENET_MEAN, IMAGENET_STD, normalize, picture_frames
from trainables.masking import get_strategy
from trainables.targets.pixel import normalized_per_token, tubelet_pixels
from trainables.tracking import MASK_FOLDER, RECONSTRUCTION_FOLDER


PICTURE_PX = 128
HIDDEN_GREY = 0.5
PIXEL_TARGETS = ("normalized_pixel", "pixel")   # targets whose predictions are pictures


def _hidden(frame: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """frame (H, W, 3) with the tokens of `hidden` (gh, gw) drawn solid grey."""
    size, gh = frame.shape[0], hidden.shape[0]
    cell = np.kron(hidden, np.ones((size // gh, size // gh), dtype=bool))[:size, :size]
    out = frame.copy()
    out[cell] = HIDDEN_GREY
    return out


def _draw(rows: list[tuple[str, list[np.ndarray], list[str]]], tubelet: int, title: str, path: str) -> None:
    """A grid of frames: each row (label, one frame per time step, a caption per frame)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), steps, figsize=(1.7 * steps, 1.9 * len(rows)), squeeze=False)
    for r, (label, frames, captions) in enumerate(rows):
        for step, (frame, caption) in enumerate(zip(frames, captions)):
            ax = axes[r][step]
            scale = max(1, -(-PICTURE_PX // frame.shape[0]))
            ax.imshow(np.clip(frame, 0, 1).repeat(scale, 0).repeat(scale, 1), interpolation="nearest")
            if r == 0:
                ax.set_title(f"t={step} (frame {step * tubelet})", fontsize=8)
            ax.set_xlabel(caption, fontsize=7)
            if step == 0:
                ax.set_ylabel(label, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def draw_mask_picture(frames: np.ndarray, rows: list[tuple[str, np.ndarray]], grid: tuple[int, int, int],
                      tubelet: int, title: str, path: str) -> None:
    """frames (T, H, W, 3) in [0, 1]; each row (label, mask (N,), True = hidden) is drawn
    under the clip with its hidden tokens solid grey."""
    t, gh, gw = grid
    shown = [frames[step * tubelet] for step in range(t)]
    drawn = [("clip", shown, [""] * t)]
    for label, mask in rows:
        m = mask.reshape(t, gh, gw)
        drawn.append((label, [_hidden(shown[s], m[s]) for s in range(t)],
                      [f"{int(m[s].sum())}/{gh * gw} hidden" for s in range(t)]))
    _draw(drawn, tubelet, title, path)


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
        log.artifact(path, MASK_FOLDER)


@torch.no_grad()
def reconstruct(model, clip: torch.Tensor, mask: torch.Tensor, target: str, tubelet: int, patch: int) -> dict:
    """One uint8 clip (3, T, H, W) through a masked autoencoder → frames (T, H, W, 3) in
    [0, 1]: "target" and "prediction" (the hidden tokens as the loss sees them — per-token
    normalized values drawn at 0.5 ± 0.25 per unit — the visible ones black), and
    "reconstruction" (the clip with its hidden tokens predicted; normalized predictions are
    mapped back with each hidden token's own mean and std, as VideoMAE's visualisation does,
    which lends them the true token's colour and contrast); and "loss_ratio", the prediction's
    loss on the hidden tokens over predicting zero's."""
    device = next(model.parameters()).device
    mask = mask.to(device)
    video = normalize(clip[None].to(device))
    pixels = video * IMAGENET_STD.to(device) + IMAGENET_MEAN.to(device)
    tokens = tubelet_pixels(pixels, tubelet, patch)[0]                     # (N, P, C)
    was_training = model.training
    model.eval()
    predicted = model(video, mask[None])[target][0].float()               # (N_hidden, P·C)
    model.train(was_training)
    hidden = tokens[mask]
    normalized = target == "normalized_pixel"
    labels = normalized_per_token(hidden) if normalized else hidden
    predicted = predicted.reshape(labels.shape)
    shown = (lambda x: 0.5 + 0.25 * x) if normalized else (lambda x: x)   # noqa: E731
    _, _, t, h, w = video.shape
    grid = (t // tubelet, h // patch, w // patch)

    def frames(hidden_values, visible_values):
        full = visible_values.clone()
        full[mask] = hidden_values.clamp(0, 1)
        out = full.reshape(*grid, tubelet, patch, patch, 3).permute(0, 3, 1, 4, 2, 5, 6).reshape(t, h, w, 3)
        return out.cpu().numpy()

    black = torch.zeros_like(tokens)
    pixels_predicted = predicted * (hidden.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6) \
        + hidden.mean(dim=-2, keepdim=True) if normalized else predicted
    return {"target": frames(shown(labels), black), "prediction": frames(shown(predicted), black),
            "reconstruction": frames(pixels_predicted, tokens),
            "loss_ratio": float(((predicted - labels) ** 2).mean() / (labels ** 2).mean().clamp_min(1e-12))}


def log_reconstruction(model, cfg, items: list, log) -> None:
    """After pretraining: the first readable clip of `items` (the validation split), its
    masked input, the hidden tokens' target and prediction, and the reconstruction by
    `model` (the plain autoencoder, not its DDP wrapper), at every time step. Only for a
    pixel target (the others' predictions are not pictures)."""
    target = next((name for name in cfg.pretrain.loss_weights if name in PIXEL_TARGETS), None)
    if target is None:
        return
    from trainables.data.clips import ClipDataset
    p = cfg.pretrain
    dataset = ClipDataset(items, cfg.data, train=False, seed=cfg.seed, token_grid=cfg.token_grid, masking=p.masking)
    for index in range(min(len(dataset), 8)):
        sample = dataset.samples(index)[0]
        if "clip" in sample and "mask" in sample:
            break
    else:
        return
    tubelet, (t, gh, gw) = cfg.model.tubelet_size, cfg.token_grid
    out = reconstruct(model, sample["clip"], sample["mask"], target, tubelet, cfg.model.patch_size)
    original = picture_frames(sample["clip"])
    m = sample["mask"].numpy().reshape(t, gh, gw)
    at_steps = lambda frames: [frames[s * tubelet] for s in range(t)]   # noqa: E731
    shown = at_steps(original)
    what = "per-token normalized" if target == "normalized_pixel" else "pixels"
    rows = [("clip", shown, [""] * t),
            ("masked input", [_hidden(shown[s], m[s]) for s in range(t)],
             [f"{int(m[s].sum())}/{gh * gw} hidden" for s in range(t)]),
            ("target (hidden)", at_steps(out["target"]), [what] * t),
            ("prediction", at_steps(out["prediction"]), [what] * t),
            ("reconstruction", at_steps(out["reconstruction"]),
             ["own mean/std" if target == "normalized_pixel" else ""] * t)]
    title = (f"after pretraining: {p.masking.strategy} {p.masking.ratio}, {target}\n"
             f"loss on the hidden tokens {out['loss_ratio']:.2f} × predicting zero — "
             f"{os.path.basename(dataset.items[index][0])}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pretrain_reconstruction.png")
        _draw(rows, tubelet, title, path)
        log.artifact(path, RECONSTRUCTION_FOLDER)
