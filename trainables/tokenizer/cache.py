"""Training the study's VQ tokenizer on its training split, once: cached next to the
dataset under `.tokenizers/<key>/` by a content hash of the training list, everything that
shapes the clips and tokens, the tokenizer config and the trainables source."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from trainables.data.clips import ClipDataset, collate_clips
from trainables.data.lists import read_list
from trainables.fingerprint import code_fingerprint, config_hash, file_digest
from trainables.targets.pixel import tubelet_pixels
from trainables.tokenizer.vq import PatchVQ

WEIGHTS = "tokenizer.safetensors"
INFO = "tokenizer.json"
CLIP_FIELDS = ("source", "num_frames", "sampling_rate", "segment_sampling", "input_size", "short_side_scale")


def tokenizer_key(train_list: str, data_cfg, tubelet: int, patch: int, tok_cfg) -> str:
    return config_hash({"list": file_digest(train_list), "data": {f: getattr(data_cfg, f) for f in CLIP_FIELDS},
                        "tubelet": tubelet, "patch": patch, "tokenizer": tok_cfg.model_dump(mode="json"),
                        "code": code_fingerprint()}, 16)


def tokenizer_dir(train_list: str, key: str) -> Path:
    return Path(train_list).resolve().parent / ".tokenizers" / key


def token_pixels(clip: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """uint8 clips (B, 3, T, H, W) → tokens' [0, 1] pixels (B, N, tubelet·patch·patch·3)."""
    return tubelet_pixels(clip.float().div_(255), tubelet, patch).flatten(2)


def _loader(items, data_cfg, token_grid, train: bool, batch: int, seed: int) -> DataLoader:
    dataset = ClipDataset(items, data_cfg.model_copy(update={"repeated_aug": 1}), train, seed, token_grid)
    return DataLoader(dataset, batch_size=batch, shuffle=train, collate_fn=collate_clips,
                      generator=torch.Generator().manual_seed(seed))


def train_tokenizer(items, data_cfg, token_grid, tubelet: int, patch: int, tok_cfg,
                    log=print) -> tuple[PatchVQ, dict]:
    torch.manual_seed(tok_cfg.seed)
    generator = torch.Generator().manual_seed(tok_cfg.seed)
    model = PatchVQ(tubelet * patch * patch * 3, tok_cfg.codebook_size, tok_cfg.code_dim, tok_cfg.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=tok_cfg.lr)
    loader = _loader(items, data_cfg, token_grid, True, tok_cfg.batch_size, tok_cfg.seed)
    for epoch in range(tok_cfg.epochs):
        loader.dataset.set_epoch(epoch)
        used = torch.zeros(tok_cfg.codebook_size, dtype=torch.bool)
        recent, total, batches = None, 0.0, 0
        for batch in loader:
            if "clip" not in batch:
                continue
            tokens = token_pixels(batch["clip"], tubelet, patch).flatten(0, 1)
            _, codes, losses = model(tokens, tok_cfg.commitment)
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            optimizer.step()
            used[codes] = True
            recent = model.encode(tokens).detach()
            total, batches = total + losses["reconstruction"].item(), batches + 1
        restarted = model.restart_unused(used, recent, generator) if epoch < tok_cfg.epochs - 1 and recent is not None else 0
        log(f"tokenizer epoch {epoch + 1}/{tok_cfg.epochs}: reconstruction MSE {total / max(batches, 1):.4f}, "
            f"{int(used.sum())}/{tok_cfg.codebook_size} codes used, {restarted} restarted")
    return model, evaluate(model, items, data_cfg, token_grid, tubelet, patch, tok_cfg)


@torch.no_grad()
def evaluate(model: PatchVQ, items, data_cfg, token_grid, tubelet: int, patch: int, tok_cfg) -> dict:
    """Round trip on the training clips (centre crops): codes → pixels, against the pixels'
    own variance (what predicting the mean pixel would cost)."""
    model.eval()
    squared = variance = count = 0.0
    counts = torch.zeros(tok_cfg.codebook_size)
    for batch in _loader(items, data_cfg, token_grid, False, tok_cfg.batch_size, tok_cfg.seed):
        if "clip" not in batch:
            continue
        tokens = token_pixels(batch["clip"], tubelet, patch)
        codes = model.codes(tokens)
        squared += (model.decode(codes) - tokens).pow(2).sum().item()
        variance += (tokens - tokens.mean()).pow(2).sum().item()
        count += tokens.numel()
        counts += torch.bincount(codes.flatten(), minlength=tok_cfg.codebook_size).float()
    probs = counts / counts.sum().clamp(min=1)
    perplexity = torch.exp(-(probs[probs > 0] * probs[probs > 0].log()).sum()).item()
    return {"reconstruction_mse": squared / max(count, 1), "pixel_variance": variance / max(count, 1),
            "codes_used": int((counts > 0).sum()), "perplexity": perplexity}


def ensure_tokenizer(train_list: str, data_cfg, token_grid, tubelet: int, patch: int, tok_cfg,
                     log=print) -> Path:
    """The tokenizer's folder, trained and written atomically if it is not there yet."""
    from safetensors.torch import save_file
    key = tokenizer_key(train_list, data_cfg, tubelet, patch, tok_cfg)
    final = tokenizer_dir(train_list, key)
    if (final / INFO).is_file():
        return final
    log(f"training the VQ tokenizer {key} on {train_list} ...")
    started = time.perf_counter()
    items = read_list(train_list, data_cfg.classes)
    model, metrics = train_tokenizer(items, data_cfg, token_grid, tubelet, patch, tok_cfg, log)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}-"))
    try:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS))
        info = {"key": key, "train_list": str(Path(train_list).resolve()), "tubelet": tubelet, "patch": patch,
                "config": tok_cfg.model_dump(mode="json"), "metrics": metrics,
                "train_seconds": time.perf_counter() - started}
        (tmp / INFO).write_text(json.dumps(info, indent=2))
        os.replace(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / INFO).is_file():
            raise
    log(f"tokenizer {key}: reconstruction MSE {metrics['reconstruction_mse']:.4f} "
        f"(pixel variance {metrics['pixel_variance']:.4f}), {metrics['codes_used']} codes used → {final}")
    return final


def load_tokenizer(folder: str | Path, device: torch.device | str = "cpu") -> PatchVQ:
    from safetensors.torch import load_file
    info = json.loads((Path(folder) / INFO).read_text())
    c = info["config"]
    model = PatchVQ(info["tubelet"] * info["patch"] ** 2 * 3, c["codebook_size"], c["code_dim"], c["hidden"])
    model.load_state_dict(load_file(str(Path(folder) / WEIGHTS)))
    return model.to(device).eval()
