"""The k-NN probe that makes pretraining comparable across targets."""
import torch

from trainables.loops.knn import knn_top1


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
