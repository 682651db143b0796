"""Paired comparisons of two arms on the same clips and seeds (dashboards/paired.py), on
inputs whose answer is known."""
import numpy as np
import pytest

from dashboards.paired import paired_difference


@pytest.mark.parametrize("seeds", [1, 3])
def test_identical_predictions_give_zero_and_an_interval_containing_it(seeds):
    correct = np.random.default_rng(0).random((seeds, 500)) < 0.6
    d = paired_difference(correct, correct.copy())
    assert d.delta == 0 and d.low <= 0 <= d.high and not d.separated
    assert "not separated" in d.words("tube", "random")


@pytest.mark.parametrize("seeds", [1, 3])
def test_an_arm_right_wherever_the_other_is_wrong_is_separated(seeds):
    b = np.random.default_rng(1).random((seeds, 500)) < 0.2
    d = paired_difference(~b, b)               # A right exactly where B (right on ≈ 20 %) is wrong
    assert d.separated and d.low > 50
    assert d.delta == pytest.approx(100 * ((~b).mean() - b.mean()))
    if seeds == 1:
        assert d.mcnemar_p < 1e-6              # ≈ 400 of 500 discordant clips go A's way
    assert "better than" in d.words("A", "B")


def test_a_small_difference_among_noisy_seeds_is_not_separated_but_a_large_one_is():
    rng = np.random.default_rng(2)
    b = rng.random((3, 500)) < 0.5
    flip = rng.random((3, 500)) < 0.02           # A fixes 2 % of B's clips (≈ 1 point)...
    noise = rng.random((3, 500)) < 0.3           # ...and disagrees with B on 30 % at random
    a_small = np.where(noise, rng.random((3, 500)) < 0.5, b | flip)
    small = paired_difference(a_small, b)
    assert small.low < small.delta < small.high and not small.separated   # ≈ +0.7 [-2.4, +3.9]
    a_large = b | (rng.random((3, 500)) < 0.3)   # A also right on 30 % of B's misses (≈ 15 points)
    large = paired_difference(a_large, b)
    assert large.separated and 10 < large.delta < 20
    assert (large.high - large.low) < 10


def test_unaligned_arms_are_refused():
    with pytest.raises(ValueError, match="same"):
        paired_difference(np.ones((2, 10)), np.ones((3, 10)))
