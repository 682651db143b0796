"""`pretrain/knn_top1`: a target-independent view of what pretraining learned. Frozen,
mean-pooled encoder features of (a fixed subset of) the train split label the val split by
a cosine-similarity k-NN vote, weighted as in InstDisc/DINO (exp(sim / 0.07))."""
from __future__ import annotations

import numpy as np
import torch

from trainables.data.clips import ClipDataset, model_input
from trainables.loops.worker import Worker, all_gather_lists, make_loader, unwrap

TEMPERATURE = 0.07


@torch.no_grad()
def pooled_features(encoder, loader, w: Worker) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, D) L2-normalized, labels (N,)) of every readable clip, from all workers."""
    encoder.eval()
    feats, labels = [], []
    for batch in loader:
        if "clip" not in batch:
            continue
        with w.autocast():
            out = encoder(model_input(batch["clip"], w.device)).mean(dim=1)
        feats += torch.nn.functional.normalize(out.float(), dim=1).cpu().numpy().tolist()
        labels += batch["label"].tolist()
    pairs = all_gather_lists(list(zip(feats, labels)), w)
    return torch.tensor([f for f, _ in pairs]), torch.tensor([label for _, label in pairs])


def knn_top1(train_f, train_y, val_f, val_y, k: int, classes: int) -> float:
    sims = val_f @ train_f.T
    top, index = sims.topk(min(k, len(train_y)), dim=1)
    votes = torch.zeros(len(val_y), classes)
    votes.scatter_add_(1, train_y[index], (top / TEMPERATURE).exp())
    return 100.0 * (votes.argmax(dim=1) == val_y).float().mean().item()


def knn_metric(model, cfg, splits: dict, w: Worker) -> float:
    p, d = cfg.pretrain, cfg.data
    train = splits["train"]
    if len(train) > p.knn_max_train:
        keep = np.random.default_rng(cfg.seed).permutation(len(train))[: p.knn_max_train]
        train = [train[i] for i in sorted(keep)]
    encoder = unwrap(model).encoder
    was_training = encoder.training
    loaders = {name: make_loader(ClipDataset(items, d, False, cfg.seed), p.batch_size, False, w, cfg.seed,
                                 d.loader_workers) for name, items in (("train", train), ("val", splits["val"]))}
    train_f, train_y = pooled_features(encoder, loaders["train"], w)
    val_f, val_y = pooled_features(encoder, loaders["val"], w)
    encoder.train(was_training)
    return knn_top1(train_f, train_y, val_f, val_y, p.knn_k, d.classes)
