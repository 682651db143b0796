"""What pretraining learned, independent of its target: two probes on the frozen encoder's
features of (a fixed subset of) the train split, scored on the val split.

- `pretrain/knn_top1`: mean-pooled features, cosine-similarity k-NN vote weighted as in
  InstDisc/DINO (exp(sim / 0.07)).
- `pretrain/knn_motion_top1`: the same k-NN on what changes between consecutive time steps
  (space-pooled features of step t+1 minus step t, concatenated). A clip's static appearance
  cancels out, so its nearest neighbours are the clips that move alike rather than the ones
  that share its colours; in synthetic-actions, where colour is random and only motion names
  the class, this is the k-NN probe that can see what pretraining learned (README).
- `pretrain/linear_top1`: features pooled over space per time step and concatenated in time
  order, standardized on the train split, then a multinomial logistic regression. Mean pooling
  over all tokens forgets the order of time steps, so classes that are each other's time
  reversal (synthetic-actions, SSv2) are invisible to the k-NN probe by construction; this
  probe keeps the order."""
from __future__ import annotations

import numpy as np
import torch

from trainables.data.clips import ClipDataset, model_input
from trainables.loops.worker import Worker, all_gather_lists, make_loader, unwrap
from trainables.tracking import KNN_MOTION_TOP1, KNN_TOP1, LINEAR_TOP1

TEMPERATURE = 0.07
LINEAR_L2 = 1e-3      # weight decay of the logistic regression (on standardized features)
LINEAR_STEPS = 200    # L-BFGS iterations


@torch.no_grad()
def time_step_features(encoder, loader, w: Worker, time_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, time_steps, D): tokens averaged over space per time step, labels (N,)) of
    every readable clip, from all workers."""
    encoder.eval()
    feats, labels = [], []
    for batch in loader:
        if "clip" not in batch:
            continue
        with w.autocast():
            tokens = encoder(model_input(batch["clip"], w.device))
        b, n, d = tokens.shape
        feats += tokens.float().reshape(b, time_steps, n // time_steps, d).mean(dim=2).cpu().numpy().tolist()
        labels += batch["label"].tolist()
    pairs = all_gather_lists(list(zip(feats, labels)), w)
    return torch.tensor([f for f, _ in pairs]), torch.tensor([label for _, label in pairs])


def knn_top1(train_f, train_y, val_f, val_y, k: int, classes: int) -> float:
    """Features L2-normalized (N, D)."""
    sims = val_f @ train_f.T
    top, index = sims.topk(min(k, len(train_y)), dim=1)
    votes = torch.zeros(len(val_y), classes)
    votes.scatter_add_(1, train_y[index], (top / TEMPERATURE).exp())
    return 100.0 * (votes.argmax(dim=1) == val_y).float().mean().item()


def linear_top1(train_f, train_y, val_f, val_y, classes: int) -> float:
    """Logistic regression on train features (N, D) standardized by their own mean and std."""
    mean, std = train_f.mean(dim=0), train_f.std(dim=0) + 1e-6
    train_f, val_f = (train_f - mean) / std, (val_f - mean) / std
    with torch.random.fork_rng():
        torch.manual_seed(0)
        head = torch.nn.Linear(train_f.shape[1], classes)
    optimizer = torch.optim.LBFGS(head.parameters(), max_iter=LINEAR_STEPS, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(head(train_f), train_y) + LINEAR_L2 * head.weight.square().sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    with torch.no_grad():
        return 100.0 * (head(val_f).argmax(dim=1) == val_y).float().mean().item()


def probe_metrics(model, cfg, splits: dict, w: Worker) -> dict[str, float]:
    p, d = cfg.pretrain, cfg.data
    train = splits["train"]
    if len(train) > p.knn_max_train:
        keep = np.random.default_rng(cfg.seed).permutation(len(train))[: p.knn_max_train]
        train = [train[i] for i in sorted(keep)]
    encoder = unwrap(model).encoder
    was_training = encoder.training
    time_steps = cfg.token_grid[0]
    features = {}
    for name, items in (("train", train), ("val", splits["val"])):
        loader = make_loader(ClipDataset(items, d, False, cfg.seed), p.batch_size, False, w, cfg.seed, d.loader_workers)
        features[name] = time_step_features(encoder, loader, w, time_steps)
    encoder.train(was_training)
    (train_f, train_y), (val_f, val_y) = features["train"], features["val"]

    def knn(train_x, val_x) -> float:
        unit = [torch.nn.functional.normalize(x.flatten(1), dim=1) for x in (train_x, val_x)]
        return knn_top1(unit[0], train_y, unit[1], val_y, p.knn_k, d.classes)

    metrics = {KNN_TOP1: knn(train_f.mean(dim=1), val_f.mean(dim=1)),
               LINEAR_TOP1: linear_top1(train_f.flatten(1), train_y, val_f.flatten(1), val_y, d.classes)}
    if time_steps > 1:
        metrics[KNN_MOTION_TOP1] = knn(train_f.diff(dim=1), val_f.diff(dim=1))
    return metrics
