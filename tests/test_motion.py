"""Codec motion vectors from real H.264 files (PyAV export) and the motion-guided masks
built from them through the training dataset."""
import av
import numpy as np
import pytest

from trainables.config import TrialConfig
from tests.conftest import maskray
from trainables.data import motion
from trainables.data.clips import ClipDataset
from trainables.data.synth import write_h264

SIZE, FRAMES, OBJECT, STEP = 96, 16, 24, 2   # a 24-px textured square moving 2 px/frame right


def textured(rng, h, w) -> np.ndarray:
    coarse = rng.random((h // 4 + 1, w // 4 + 1, 3))
    return np.kron(coarse, np.ones((4, 4, 1)))[:h, :w]


def moving_square_frames(moving: bool = True) -> np.ndarray:
    rng = np.random.default_rng(0)
    background = 0.3 + 0.4 * textured(rng, SIZE, SIZE)
    square = textured(rng, OBJECT, OBJECT)
    out = []
    for f in range(FRAMES):
        frame = background.copy()
        x = 8 + (STEP * f if moving else 0)
        frame[36:36 + OBJECT, x:x + OBJECT] = square
        out.append((frame * 255).astype(np.uint8))
    return np.stack(out)


def square_columns(f: int) -> tuple[int, int]:
    x = 8 + STEP * f
    return x, x + OBJECT


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    write_h264(root / "moving.mp4", moving_square_frames(True))
    write_h264(root / "static.mp4", moving_square_frames(False))
    mjpeg = root / "intra.mov"
    with av.open(str(mjpeg), "w") as c:
        s = c.add_stream("mjpeg", rate=16)
        s.width, s.height, s.pix_fmt = SIZE, SIZE, "yuvj420p"
        for f in moving_square_frames(True):
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return root


def test_vectors_where_the_object_moves_and_none_on_a_static_clip(clips):
    moving = motion.extract(clips / "moving.mp4")
    assert moving.source_hw == (SIZE, SIZE) and moving.displacement.shape[0] == FRAMES
    assert not moving.present[0] and moving.present[1:].sum() >= FRAMES - 3   # I-frames carry none
    f = 5
    dx = moving.displacement[f, 0].astype(np.float32)
    x0, x1 = square_columns(f)
    on_object = dx[36 // 8:(36 + OBJECT) // 8, x0 // 8:x1 // 8]
    assert np.median(on_object) == pytest.approx(STEP, abs=0.6)       # 2 px right per frame
    background = np.abs(dx[:3]).max()                                  # rows far above the square
    assert background < 0.5
    static = motion.extract(clips / "static.mp4")
    assert np.abs(static.displacement.astype(np.float32)).max() < 0.5


def test_cache_is_written_next_to_the_video_and_reused(clips):
    path = clips / "moving.mp4"
    first = motion.load(path)
    cached = motion.cache_path(path)
    assert cached.is_file() and cached.parent.name == ".motion"
    stamp = cached.stat().st_mtime_ns
    again = motion.load(path)
    assert cached.stat().st_mtime_ns == stamp
    assert np.array_equal(first.displacement, again.displacement)


def dataset(paths, ratio=0.25, train=False):
    cfg = TrialConfig.model_validate({
        "data": {"source": "lists", "num_classes": 2, "num_frames": 8, "sampling_rate": 2,
                 "input_size": SIZE, "short_side_scale": 1.0, "loader_workers": 0},
        "model": {"preset": "nano", "patch_size": 8},
        "pretrain": {"masking": {"strategy": "motion_guided", "ratio": ratio}}})
    return ClipDataset([(str(p), 0) for p in paths], cfg.data, train, 0, cfg.token_grid, cfg.pretrain.masking)


def test_motion_guided_mask_sits_on_the_object_and_follows_it(clips):
    sample = dataset([clips / "moving.mp4"])[0]
    mask = sample["mask"].numpy().reshape(4, 12, 12)
    assert not sample["motion_fallback"]
    centres = []
    for step in range(4):
        x0, x1 = square_columns(step * 4)                  # tubelet 2 × sampling rate 2
        on = np.zeros((12, 12), bool)
        on[36 // 8:(36 + OBJECT) // 8, x0 // 8:-(-x1 // 8)] = True
        inside = mask[step][on].mean()
        outside = mask[step][~on].mean()
        assert inside > 0.6 and inside > 4 * outside, (step, inside, outside)
        centres.append(np.nonzero(mask[step] & on)[1].mean())
    assert centres[-1] > centres[0] + 2                    # the mask moved right with the square


def test_intra_only_video_falls_back_to_frame_differences(clips):
    ds = dataset([clips / "intra.mov", clips / "moving.mp4"], train=True)
    intra, h264 = ds[0], ds[1]
    assert intra["motion_fallback"] and not h264["motion_fallback"]
    assert intra["mask"].sum() == h264["mask"].sum()       # same visible count, no crash


def test_motion_command_extracts_a_dataset(synth_root, tmp_path):
    out = maskray("data", "motion", str(synth_root))
    assert out.returncode == 0, out.stdout + out.stderr
    videos = sorted((synth_root / "videos").glob("*.mp4"))
    assert all(motion.cache_path(v).is_file() for v in videos)
    assert f"{len(videos)} videos" in out.stdout
