"""synthetic-actions generation and decoding with decord, sampling, lists, bad files."""
import numpy as np
import pytest

from tests.conftest import maskray
from trainables.data.classes import SYNTH_CLASSES
from trainables.data.lists import ListFormatError, read_list
from trainables.data.video import read_clip, sample_indices


def test_synth_writes_h264_lists_for_every_class(synth_root):
    import av
    splits = {s: read_list(synth_root / f"{s}.csv") for s in ("train", "val", "test")}
    assert sum(len(v) for v in splits.values()) == 6 * len(SYNTH_CLASSES)
    for items in splits.values():
        assert {label for _, label in items} == set(range(len(SYNTH_CLASSES)))
    path = splits["train"][0][0]
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) == 16


def test_decord_decodes_sampled_clip_with_resize(synth_root):
    import decord
    path, _ = read_list(synth_root / "train.csv")[0]
    assert len(decord.VideoReader(path)) == 16
    clip, _, _ = read_clip(path, 8, 2, 40, train=False, rng=np.random.default_rng(0))
    assert clip.shape == (8, 40, 40, 3) and clip.dtype == np.uint8
    assert clip.std() > 5  # real content, not a blank frame


def test_sampling_dense_segment_and_short_videos():
    rng = np.random.default_rng(0)
    idx = sample_indices(100, 8, 4, train=False, rng=rng)
    assert list(np.diff(idx)) == [4] * 7 and idx[0] == (100 - 32) // 2
    short = sample_indices(10, 8, 4, train=True, rng=rng)   # shorter than 32: repeats, not rejected
    assert len(short) == 8 and short.max() == 9 and (np.diff(short) >= 0).all()
    seg = sample_indices(80, 8, 1, train=False, rng=rng, segment=True)
    assert list(seg) == [5, 15, 25, 35, 45, 55, 65, 75]


def test_list_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a.mp4 0\nb.mp4 seven\nc.mp4 9\n")
    with pytest.raises(ListFormatError) as e:
        read_list(bad, num_classes=5)
    assert f"{bad}:2" in str(e.value) and f"{bad}:3" in str(e.value)


def test_other_codecs_and_containers_decode(tmp_path):
    """MPEG-4 in avi and VP9 in webm at another size and rate: the same loader reads them."""
    import av
    from trainables.data.synth import render_clip
    frames = render_clip(0, np.random.default_rng(0), size=64, frames=12)
    for codec, name in (("mpeg4", "a.avi"), ("libvpx-vp9", "b.webm"), ("mjpeg", "c.mov")):
        path = tmp_path / name
        with av.open(str(path), "w") as c:
            s = c.add_stream(codec, rate=25)
            s.width, s.height = 64, 64
            s.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            for f in frames:
                for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
        clip, _, _ = read_clip(str(path), 8, 2, 32, False, np.random.default_rng(0))
        assert clip.shape == (8, 32, 32, 3), name


def write_vp9_webm(path, frames, live: bool) -> None:
    """VP9 in WebM; `live`: written as a stream (no duration, no cues), as cameras and
    recorders that are stopped rather than closed leave it."""
    import av
    with av.open(str(path), "w", format="webm", options={"live": "1"} if live else {}) as c:
        s = c.add_stream("libvpx-vp9", rate=16)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"lossless": "1"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def test_a_video_decord_cannot_measure_is_decoded_by_pyav(tmp_path):
    """A WebM without duration: decord refuses it ("Failed to measure duration/frame-count"),
    FFmpeg reads it. The PyAV fallback gives the frames decord gives for the same stream in a
    well-formed file, frame-accurately and with the same resize; `maskray data check` counts it."""
    import decord
    from trainables.data.clips import ClipDataset
    from trainables.config import DataConfig
    from trainables.data.synth import render_clip
    frames = render_clip(2, np.random.default_rng(0), size=64, frames=16)
    live, indexed = tmp_path / "live.webm", tmp_path / "indexed.webm"
    write_vp9_webm(live, frames, live=True)
    write_vp9_webm(indexed, frames, live=False)
    with pytest.raises(Exception, match="duration"):
        decord.VideoReader(str(live), num_threads=1)
    rng = lambda: np.random.default_rng(3)   # noqa: E731
    fallback, idx, decoder = read_clip(str(live), 8, 2, 40, True, rng())
    reference, ref_idx, ref_decoder = read_clip(str(indexed), 8, 2, 40, True, rng())
    assert (decoder, ref_decoder) == ("pyav", "decord")
    assert idx.tolist() == ref_idx.tolist() and fallback.shape == reference.shape == (8, 40, 40, 3)
    assert np.abs(fallback.astype(int) - reference.astype(int)).mean() < 2.0   # grey levels of 255

    (tmp_path / "list.csv").write_text(f"{live} 2\n{indexed} 2\n")
    cfg = DataConfig(source="lists", root=str(tmp_path), num_classes=8, num_frames=8, sampling_rate=2,
                     input_size=32, loader_workers=0)
    samples = [ClipDataset(read_list(tmp_path / "list.csv"), cfg, train=False, seed=0).samples(i)[0] for i in (0, 1)]
    assert [s["pyav_fallback"] for s in samples] == [True, False]
    out = maskray("data", "check", str(tmp_path / "list.csv"), "--num-frames", "8", "--sampling-rate", "2",
                  "--input-size", "32")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 unreadable, 1 read through PyAV" in out.stdout and "PyAV (decord cannot open or seek it" in out.stdout


def test_data_check_reports_unreadable_and_short(synth_root, tmp_path):
    good = read_list(synth_root / "train.csv")[:3]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(open(good[0][0], "rb").read()[:300])   # truncated file
    listing = tmp_path / "list.csv"
    listing.write_text("".join(f"{p} {label}\n" for p, label in good) + f"{broken} 0\n")
    out = maskray("data", "check", str(listing), "--num-frames", "8", "--sampling-rate", "4", "--input-size", "32")
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"UNREADABLE: {broken}" in out.stdout
    assert "3 shorter than 8×4=32 frames" in out.stdout  # 16-frame clips, sampled with repetition
    listing.write_text("".join(f"{p} {label}\n" for p, label in good))
    assert maskray("data", "check", str(listing), "--num-frames", "8", "--sampling-rate", "2",
                   "--input-size", "32").returncode == 0


def test_repeated_augmentation_crops_one_decode_several_times(synth_root):
    """data.repeated_aug (VideoMAE's num_sample): each decoded training clip gives that many
    samples — same frames, other crops and masks — and a batch holds all of them."""
    from torch.utils.data import DataLoader

    from trainables.config import DataConfig, MaskingConfig
    from trainables.data.clips import ClipDataset, collate_clips
    cfg = DataConfig(root=str(synth_root), num_frames=8, sampling_rate=2, input_size=24, short_side_scale=1.6,
                     loader_workers=0, repeated_aug=3)
    items = read_list(synth_root / "train.csv")
    train = ClipDataset(items, cfg, True, 0, (4, 3, 3), MaskingConfig(strategy="random", ratio=0.5))
    views = train.load(0, np.random.default_rng(0), 3)
    assert len(views) == 3 and len({tuple(w["frame_idx"]) for _, w in views}) == 1
    assert len({w["crop"] for _, w in views}) > 1
    batch = next(iter(DataLoader(train, batch_size=2, collate_fn=collate_clips)))
    assert batch["clip"].shape == (6, 3, 8, 24, 24) and batch["label"].tolist()[:3] == [items[0][1]] * 3
    assert len({tuple(m.tolist()) for m in batch["mask"][:3]}) == 3
    evaluation = ClipDataset(items, cfg, False, 0, (4, 3, 3), MaskingConfig(strategy="random", ratio=0.5))
    assert isinstance(evaluation[0], dict)       # evaluation clips are never repeated


def test_synth_command_writes_a_dataset_a_study_can_read(tmp_path):
    out = maskray("data", "synth", str(tmp_path / "synth"), "--clips-per-class", "3", "--size", "32", "--frames", "8")
    assert out.returncode == 0, out.stderr
    assert f"{len(SYNTH_CLASSES)} classes" in out.stdout
    for split in ("train", "val", "test"):
        items = read_list(tmp_path / "synth" / f"{split}.csv", len(SYNTH_CLASSES))
        assert items and all(p.endswith(".mp4") for p, _ in items)
        clip, _, _ = read_clip(items[0][0], 8, 1, 32, train=False, rng=np.random.default_rng(0))
        assert clip.shape == (8, 32, 32, 3)


def test_a_larger_test_split_keeps_the_training_and_validation_clips(tmp_path):
    from trainables.data import synth
    small = synth.generate(tmp_path / "a", clips_per_class=5, size=32, frames=8)
    large = synth.generate(tmp_path / "b", clips_per_class=5, size=32, frames=8, test_clips_per_class=4)
    assert large["splits"] == {**small["splits"], "test": 4 * len(SYNTH_CLASSES)}
    assert small["splits"]["test"] == len(SYNTH_CLASSES)
    train_a, train_b = read_list(tmp_path / "a" / "train.csv"), read_list(tmp_path / "b" / "train.csv")
    assert [label for _, label in train_a] == [label for _, label in train_b]
    for (path_a, _), (path_b, _) in zip(train_a[-3:], train_b[-3:]):   # the last class's: drawn last
        frames = [read_clip(p, 8, 1, 32, train=False, rng=np.random.default_rng(0))[0] for p in (path_a, path_b)]
        assert np.array_equal(*frames)
    # an existing dataset made with other parameters is regenerated, the same one is kept
    assert synth.ensure(tmp_path / "a", clips_per_class=5, size=32, frames=8, fps=16, seed=0,
                        test_clips_per_class=4)["splits"]["test"] == 4 * len(SYNTH_CLASSES)


def test_flat_clips_leave_only_the_object_to_predict(tmp_path):
    """Decoded as training reads them, a flat clip's tokens away from the object have a
    per-token normalized target of zero (a masked autoencoder can predict them), and the
    object's tokens are not flat; a textured clip's tokens are all noise."""
    import torch
    from trainables.data import synth
    from trainables.targets.pixel import normalized_per_token, tubelet_pixels

    def token_energy(style):
        synth.generate(tmp_path / style, clips_per_class=3, size=64, frames=16, style=style)
        path, _ = read_list(tmp_path / style / "train.csv")[0]
        clip, _, _ = read_clip(path, 8, 2, 32, train=False, rng=np.random.default_rng(0))
        video = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float() / 255
        return normalized_per_token(tubelet_pixels(video, 2, 8)).square().mean(dim=(2, 3))[0]

    flat, textured = token_energy("flat"), token_energy("textured")
    # away from the object (and the codec's ringing around it): flat, exactly predictable
    assert (flat < 0.05).float().mean() >= 0.25
    assert (flat > 0.5).any()                          # the object's
    assert (textured < 0.05).float().mean() == 0       # unit-variance noise everywhere
