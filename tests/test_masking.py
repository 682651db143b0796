"""Masking invariants over many seeds and grids: exact visible counts, tube repeats over t."""
import numpy as np
import pytest

from trainables.masking import get_strategy, strategy_names

GRIDS = [(8, 14, 14), (4, 4, 4), (2, 7, 5), (1, 3, 3)]
RATIOS = [0.5, 0.75, 0.9]


def test_builtin_strategies_registered():
    assert {"random", "tube"} <= set(strategy_names())
    with pytest.raises(KeyError, match="known: "):
        get_strategy("checkerboard")


@pytest.mark.parametrize("name", ["random", "tube"])
def test_exact_masked_count_for_every_clip(name):
    strategy = get_strategy(name)
    for grid in GRIDS:
        for ratio in RATIOS:
            if strategy.ratio_error(ratio, grid):
                continue
            expected = strategy.num_masked(ratio, grid)
            for seed in range(30):
                mask = strategy.sample(ratio, grid, np.random.default_rng(seed))
                assert mask.dtype == bool and mask.shape == (grid[0] * grid[1] * grid[2],)
                assert mask.sum() == expected


def test_random_matches_videomae_count_and_varies():
    strategy = get_strategy("random")
    masks = [strategy.sample(0.9, (8, 14, 14), np.random.default_rng(s)) for s in range(5)]
    assert all(m.sum() == int(0.9 * 1568) for m in masks)
    assert len({m.tobytes() for m in masks}) == 5
    # not tube-shaped: time steps differ
    grid = masks[0].reshape(8, 196)
    assert not all((grid[t] == grid[0]).all() for t in range(8))


def test_tube_is_the_same_spatial_mask_at_every_t():
    strategy = get_strategy("tube")
    for seed in range(20):
        mask = strategy.sample(0.9, (8, 14, 14), np.random.default_rng(seed)).reshape(8, 196)
        assert (mask == mask[0]).all()
        assert mask[0].sum() == int(0.9 * 196)


def test_impossible_ratio_is_reported():
    assert get_strategy("tube").ratio_error(0.2, (2, 2, 2)) is not None   # int(0.2*4)=0 masked
    assert get_strategy("random").ratio_error(0.2, (2, 2, 2)) is None      # int(0.2*8)=1 masked
