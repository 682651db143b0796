"""The probes that make pretraining comparable across targets."""
import torch

from trainables.loops.probes import knn_top1, linear_top1


def test_knn_labels_val_clips_by_their_nearest_train_features():
    torch.manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    train_y = torch.arange(40) % 4
    val_y = torch.arange(20) % 4
    train_f = torch.nn.functional.normalize(centres[train_y] + 0.1 * torch.randn(40, 16), dim=1)
    val_f = torch.nn.functional.normalize(centres[val_y] + 0.1 * torch.randn(20, 16), dim=1)
    assert knn_top1(train_f, train_y, val_f, val_y, k=5, classes=4) == 100.0
    shuffled = train_y[torch.randperm(40)]
    assert knn_top1(train_f, shuffled, val_f, val_y, k=5, classes=4) < 60.0


def test_the_linear_probe_reads_time_order_that_mean_pooling_loses():
    """Two classes, each the other's time reversal: feature a then b, or b then a. Their
    mean over time is the same, so the k-NN probe is at chance; the linear probe on the
    time-ordered features separates them."""
    torch.manual_seed(0)
    a, b = torch.randn(8), torch.randn(8)

    def clips(n):
        labels = torch.arange(n) % 2
        steps = torch.stack([torch.stack([a, b]) if y == 0 else torch.stack([b, a]) for y in labels])
        return steps + 0.3 * torch.randn(n, 2, 8), labels

    (train_f, train_y), (val_f, val_y) = clips(60), clips(40)
    pooled = [torch.nn.functional.normalize(f.mean(dim=1), dim=1) for f in (train_f, val_f)]
    assert knn_top1(pooled[0], train_y, pooled[1], val_y, k=5, classes=2) < 75.0
    assert linear_top1(train_f.flatten(1), train_y, val_f.flatten(1), val_y, classes=2) == 100.0
    assert linear_top1(train_f.flatten(1), train_y[torch.randperm(60)], val_f.flatten(1), val_y, classes=2) < 80.0
