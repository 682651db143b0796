"""Masking invariants over many seeds and grids: exact visible counts for every strategy,
tube repeats over t, frame masks whole steps, cell running's visibility schedule."""
import numpy as np
import pytest

from trainables.config import MaskingConfig
from trainables.data.motion import TokenMotion
from trainables.masking import get_strategy, strategy_names

GRIDS = [(8, 14, 14), (4, 4, 4), (2, 8, 6), (1, 4, 4)]
RATIOS = [0.25, 0.5, 0.75, 0.875, 0.9]
INPUT_STRATEGIES = ["random", "tube", "frame", "cell_running", "motion_guided"]


def masking(strategy: str, ratio: float = 0.5, **options) -> MaskingConfig:
    return MaskingConfig(strategy=strategy, ratio=ratio, **options)


def random_motion(grid, rng) -> TokenMotion:
    t, h, w = grid
    return TokenMotion(rng.random((t, h, w)).astype(np.float32),
                       rng.normal(0, 1.5, (t, 2, h, w)).astype(np.float32),
                       rng.random(t) < 0.8)


def test_builtin_strategies_registered():
    assert set(INPUT_STRATEGIES) | {"keyframe"} <= set(strategy_names())
    with pytest.raises(KeyError, match="known: "):
        get_strategy("checkerboard")


@pytest.mark.parametrize("name", INPUT_STRATEGIES)
@pytest.mark.parametrize("train", [True, False])
def test_exact_masked_count_for_every_clip(name, train):
    strategy = get_strategy(name)
    checked = 0
    for grid in GRIDS:
        for ratio in RATIOS:
            m = masking(name, ratio)
            if strategy.problems(m, grid):
                continue
            expected = strategy.num_masked(m, grid)
            for seed in range(25):
                rng = np.random.default_rng(seed)
                motion = random_motion(grid, rng) if strategy.needs_motion else None
                mask = strategy.sample(m, grid, rng, train=train, motion=motion)
                assert mask.dtype == bool and mask.shape == (grid[0] * grid[1] * grid[2],)
                assert mask.sum() == expected, (grid, ratio, seed)
            checked += 1
    assert checked >= 4


def test_random_matches_videomae_count_and_varies():
    strategy = get_strategy("random")
    masks = [strategy.sample(masking("random", 0.9), (8, 14, 14), np.random.default_rng(s)) for s in range(5)]
    assert all(m.sum() == int(0.9 * 1568) for m in masks)
    assert len({m.tobytes() for m in masks}) == 5
    grid = masks[0].reshape(8, 196)
    assert not all((grid[t] == grid[0]).all() for t in range(8))


def test_tube_is_the_same_spatial_mask_at_every_t():
    strategy = get_strategy("tube")
    for seed in range(20):
        mask = strategy.sample(masking("tube", 0.9), (8, 14, 14), np.random.default_rng(seed)).reshape(8, 196)
        assert (mask == mask[0]).all()
        assert mask[0].sum() == int(0.9 * 196)


def test_frame_masks_whole_time_steps():
    strategy = get_strategy("frame")
    for seed in range(20):
        mask = strategy.sample(masking("frame", 0.75), (8, 14, 14), np.random.default_rng(seed)).reshape(8, 196)
        per_step = mask.sum(axis=1)
        assert set(per_step.tolist()) == {0, 196} and (per_step == 196).sum() == 6


def test_frame_ratio_must_be_a_multiple_of_one_over_t():
    problems = get_strategy("frame").problems(masking("frame", 0.9), (8, 14, 14))
    assert problems and "0.875" in problems[0] and "0.9" in problems[0]


def windows_visible_counts(mask: np.ndarray, grid, cell) -> set[int]:
    """How often each cell position is visible within every window of c consecutive steps."""
    t, h, w = grid
    c = cell[1] * cell[2]
    m = mask.reshape(t, h // cell[1], cell[1], w // cell[2], cell[2])
    counts = set()
    for start in range(t - c + 1):
        visible = (~m[start:start + c]).sum(axis=0)   # (h/ch, ch, w/cw, cw)
        counts |= set(np.unique(visible).tolist())
    return counts


@pytest.mark.parametrize("ratio,k", [(0.25, 1), (0.5, 2), (0.75, 3)])
def test_cell_running_visibility_schedule(ratio, k):
    strategy = get_strategy("cell_running")
    grid, cell = (8, 14, 14), (1, 2, 2)
    m = masking("cell_running", ratio)
    evals = {strategy.sample(m, grid, np.random.default_rng(s), train=False).tobytes() for s in range(10)}
    assert len(evals) == 1                                 # evaluation: phase 0, no shuffle
    mask = np.frombuffer(evals.pop(), dtype=bool)
    assert windows_visible_counts(mask, grid, cell) == {4 - k}
    # MAR at 50%: visible pairs {BL,BR} → {TL,BR} → {TL,TR} → {TR,BL}
    if k == 2:
        first_cell = mask.reshape(8, 14, 14)[:4, :2, :2]
        visible = [tuple(np.flatnonzero(~c.reshape(-1)).tolist()) for c in first_cell]
        assert visible == [(2, 3), (0, 3), (0, 1), (1, 2)]
    for seed in range(10):                                 # training: same counts, shuffled order
        train = strategy.sample(m, grid, np.random.default_rng(seed), train=True).reshape(8, 14, 14)
        per_position = (~train[:, :2, :2]).sum(axis=0)
        assert (per_position == 2 * (4 - k)).all()
    unshuffled = masking("cell_running", ratio, random_phase=False, shuffle_time=False)
    assert strategy.sample(unshuffled, grid, np.random.default_rng(3), train=True).tobytes() == mask.tobytes()


def test_cell_running_rejects_ratios_and_cells_it_cannot_express():
    strategy = get_strategy("cell_running")
    problems = strategy.problems(masking("cell_running", 0.9), (8, 14, 14))
    assert problems and "0.25, 0.5, 0.75" in problems[0]
    problems = strategy.problems(masking("cell_running", 0.5, cell=(1, 3, 3)), (8, 14, 14))
    assert any("does not tile" in p for p in problems)


def test_motion_guided_masks_moving_tokens_and_follows_them():
    """A 3×3 blob moving one token right per step over a still background: exactly its
    tokens are masked at every step (carried along, the uncovered background trimmed)."""
    t, h, w = 4, 8, 8
    disp = np.zeros((t, 2, h, w), np.float32)
    for step in range(t):
        disp[step, 0, 2:5, 1 + step:4 + step] = 1.0
    motion = TokenMotion(np.abs(disp).sum(axis=1), disp, np.ones(t, bool))
    m = masking("motion_guided", 9 / 64 + 1e-9)
    mask = get_strategy("motion_guided").sample(m, (t, h, w), np.random.default_rng(0), train=False,
                                                motion=motion).reshape(t, h, w)
    for step in range(t):
        assert mask[step, 2:5, 1 + step:4 + step].all(), step
        assert mask[step].sum() == 9


def test_impossible_ratio_is_reported():
    assert get_strategy("tube").problems(masking("tube", 0.2), (2, 2, 2))      # int(0.2*4)=0 masked
    assert not get_strategy("random").problems(masking("random", 0.2), (2, 2, 2))


def test_keyframe_options_are_checked():
    strategy = get_strategy("keyframe")
    assert strategy.in_encoder and strategy.num_masked(masking("keyframe"), (4, 4, 4)) == 0
    assert strategy.problems(masking("keyframe", keep_rate=1.5), (4, 4, 4), depth=4)
    assert strategy.problems(masking("keyframe", drop_layers=[2, 9]), (4, 4, 4), depth=4)
    assert not strategy.problems(masking("keyframe", keep_rate=0.6, drop_layers=[1, 3]), (4, 4, 4), depth=4)


def test_mask_command_prints_json_and_draws(tmp_path):
    import json

    from tests.conftest import maskray
    out = maskray("mask", "cell_running", "--ratio", "0.5", "--grid", "4,2,2", "--eval", "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["grid"] == [4, 2, 2]
    assert shown["mask"][0] == [[1, 1], [0, 0]] and shown["mask"][1] == [[0, 1], [1, 0]]
    png = tmp_path / "tube.png"
    out = maskray("mask", "tube", "--ratio", "0.75", "--grid", "8,14,14", "--png", str(png))
    assert out.returncode == 0 and png.stat().st_size > 1000


def test_mask_command_rejects_what_a_strategy_cannot_do():
    from tests.conftest import maskray
    out = maskray("mask", "frame", "--ratio", "0.9", "--grid", "8,14,14")
    assert out.returncode == 2 and "0.875" in out.stderr and "0.9" in out.stderr
    out = maskray("mask", "motion_guided", "--ratio", "0.9", "--grid", "8,14,14")
    assert out.returncode == 2 and "--video" in out.stderr
    out = maskray("mask", "tube", "--ratio", "0.9", "--grid", "8,14")
    assert out.returncode == 2 and "T,H,W" in out.stderr
