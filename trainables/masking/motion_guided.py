"""Motion-guided masking (MGM) from codec motion vectors.

MGM masks where the video moves and carries each mask along the motion, but its exact
blob shape and interpolation are not published. What this implements, closest to MGM's
description and to MGMAE's released code (which does the same with optical flow):
  1. step 0: mask the k highest-motion tokens (k = int(ratio × H·W), as tube masking);
  2. step t-1 → t: carry the mask along the motion, pulling each token of step t from where
     its content was at step t-1 (codec vectors summed over the source frames in between,
     in token units; a backward warp, so no token is left with two sources);
  3. top up with the highest-motion tokens of step t (or trim the lowest) to exactly k.
Exactly k tokens per step keeps the visible count equal for every clip of a batch. In
training, scores get a ±10 % random jitter so near-ties (static backgrounds, uniform
pans) do not give the same mask every epoch; evaluation is deterministic. Steps without
codec vectors use the frame difference as the score and no displacement (the clip's
`motion_source` records it)."""
import numpy as np

from trainables.masking.registry import MaskStrategy, register

JITTER = 0.1


@register("motion_guided")
class MotionGuidedMasking(MaskStrategy):
    needs_motion = True

    def num_masked(self, m, grid):
        t, h, w = grid
        return int(m.ratio * h * w) * t

    def sample(self, m, grid, rng, train=True, motion=None):
        t, h, w = grid
        k = int(m.ratio * h * w)
        if motion is None:
            raise ValueError("motion_guided masking needs the clip's motion (trainables.data.motion)")
        score = motion.score.reshape(t, h * w).astype(np.float64)
        if train:
            score = score * (1 + JITTER * rng.uniform(-1, 1, score.shape)) + 1e-9 * rng.random(score.shape)
        mask = np.zeros((t, h * w), dtype=bool)
        mask[0, _top(score[0], k)] = True
        rows, cols = np.divmod(np.arange(h * w), w)
        dx, dy = motion.displacement[:, 0].reshape(t, -1), motion.displacement[:, 1].reshape(t, -1)
        source = (np.clip(np.rint(rows - dy), 0, h - 1) * w + np.clip(np.rint(cols - dx), 0, w - 1)).astype(int)
        for step in range(1, t):
            carried = np.flatnonzero(mask[step - 1][source[step]])
            if len(carried) > k:
                carried = carried[_top(score[step][carried], k)]
            mask[step, carried] = True
            if len(carried) < k:
                rest = np.flatnonzero(~mask[step])
                mask[step, rest[_top(score[step][rest], k - len(carried))]] = True
        return mask.reshape(-1)


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values (ties broken by position, so evaluation is stable)."""
    return np.argsort(-values, kind="stable")[:k]
