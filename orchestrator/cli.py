"""The `maskray` command. Heavy imports (torch, ray, mlflow) happen inside the commands."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from orchestrator import preflight
from orchestrator.errors import UserInputError
from trainables.data.classes import SYNTH_STYLES

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130     # the shell's code for Ctrl-C
UI_PORT = 5000


def _load(path: str, preset: str | None = None):
    from orchestrator.study import expand_trials, load_study
    spec = load_study(path, preset)
    return spec, expand_trials(spec, source=path + (f" (preset {preset})" if preset else ""))


def _trial_table(trials) -> str:
    axes = list(trials[0].axes) if trials else []
    header = ["trial", "trial_id", *axes]
    rows = [[t.key, t.trial_id, *(str(t.axes[a]) for a in axes)] for t in trials]
    return _format_table(header, rows)


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths))]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def cmd_validate(args) -> int:
    from orchestrator.study import study_presets
    spec, trials = _load(args.study, args.preset)
    preflight.check_tracking_uri(spec.tracking.uri, probe=args.online)
    if args.online:
        preflight.check_storage(spec.storage.path)
    for data in {t.config.data.root: t.config.data for t in trials}.values():
        if data.source == "lists" or Path(data.root, "manifest.json").is_file():  # synthetic: made by `run`
            preflight.check_lists(data, absent_ok=True)
    search = {"grid": "grid", "random": f"random {spec.search.num_samples} of the grid",
              "optuna": f"optuna: {spec.search.num_samples} trials picked from these points by TPE on "
                        f"{spec.search.metric}"}[spec.search.kind]
    controls = sum(t.control for t in trials)
    control = f" (+ {controls} from-scratch control)" if controls else ""
    print(f"study {spec.name}: {len(trials)} trials{control}, {search} over {', '.join(spec.sweep) or '(no axes)'}"
          f" × seeds {spec.seeds}; scheduler {spec.scheduler.kind}")
    print(_trial_table(trials))
    presets = study_presets(args.study)
    if presets and not args.preset:
        print(f"presets: {', '.join(presets)} (--preset NAME)")
    return 0


def cmd_run(args) -> int:
    from orchestrator.launch import LaunchOptions, find_execution, run_study
    from trainables import tracking
    from trainables.tracking import TEST_TOP1, VAL_TOP1
    spec, trials = _load(args.study, args.preset)
    preflight.check_tracking_uri(args.tracking_uri or spec.tracking.uri)
    preflight.check_ray_address(args.address or os.environ.get("RAY_ADDRESS"))
    resume_id = storage = None
    if args.command == "resume":
        preflight.check_store_exists(tracking.absolute_uri(args.tracking_uri or spec.tracking.uri))
        resume_id, storage = find_execution(spec, trials, args.tracking_uri, args.study_id)
    preflight.check_storage(args.storage or storage or spec.storage.path)
    options = LaunchOptions(args.address, args.tracking_uri, args.storage or storage, args.num_cpus, args.verbose,
                            reuse_pretraining=not args.no_pretrain_cache, resume_id=resume_id,
                            retry_failed=getattr(args, "retry_failed", False))
    try:
        study_id, parent_id, grid = run_study(spec, trials, args.study, options)
    except Exception as e:
        if "API request to" not in str(e):   # MLflow's REST client, after its retries
            raise
        print(f"error: the MLflow tracking server {args.tracking_uri or spec.tracking.uri} stopped answering "
              f"({str(e).splitlines()[0][:300]}); the trials that needed it failed. When it is back, "
              f"`maskray resume {args.study} --retry-failed"
              f"{' --tracking-uri ' + args.tracking_uri if args.tracking_uri else ''}` finishes the study",
              file=sys.stderr)
        return 1
    axes = list(trials[0].axes)
    rows, errors = [], []
    for result in sorted(grid, key=lambda r: r.config["trial"]["key"]):
        t = result.config["trial"]
        m = result.metrics or {}
        if result.error is not None:
            status = "FAILED"
            errors.append((t["key"], _error_summary(result.error)))
        elif TEST_TOP1 in m:
            status = "ok"
        else:  # ASHA stops the trials that fall behind; otherwise the run was interrupted
            status = "stopped" if spec.scheduler.kind == "asha" else "incomplete"
        rows.append([t["key"], *(str(t["axes"][a]) for a in axes),
                     _pct(m.get(VAL_TOP1)), _pct(m.get(TEST_TOP1)),
                     f"{m.get('time_total_s', 0):.0f}s", status])
    print()
    print(_format_table(["trial", *axes, "val top-1", "test top-1", "wall", "status"], rows))
    for key, text in errors:
        print(f"\n{key} failed:\n{text}")
    if spec.control or spec.reference:
        print(_paired_summary(args.tracking_uri or spec.tracking.uri, spec.tracking.experiment or spec.name, study_id))
    uri = tracking.absolute_uri(args.tracking_uri or spec.tracking.uri)
    experiment_id = tracking.client(uri).get_run(parent_id).info.experiment_id
    served = uri.startswith(("http://", "https://"))
    start = "" if served else f"`maskray ui{' --tracking-uri ' + args.tracking_uri if args.tracking_uri else ''}`, then "
    print(f"\nMLflow: study run {parent_id} ({study_id}); {start}open "
          f"{tracking.ui_url(uri if served else f'http://127.0.0.1:{UI_PORT}', experiment_id)}")
    statuses = [row[-1] for row in rows]
    if "incomplete" in statuses:
        options = "".join(f" --{name} {value}" for name, value in (("preset", args.preset),
                          ("tracking-uri", args.tracking_uri)) if value)
        print(f"interrupted: {statuses.count('incomplete')} trial(s) unfinished; `maskray resume {args.study}"
              f"{options}` continues this execution")
        return EXIT_INTERRUPTED if "FAILED" not in statuses else 1
    return 0 if all(s in ("ok", "stopped") for s in statuses) else 1


def _paired_summary(uri: str, experiment: str, study_id: str) -> str:
    """Each arm against the from-scratch control and the reference arm, paired on the same
    seeds and test clips (as in `maskray report`)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from dashboards.arms import comparisons, load_arms
    from dashboards.directions import checked_directions
    from dashboards.study_runs import load
    from trainables.tracking import absolute_uri
    runs = load(absolute_uri(uri), experiment, study_id, with_histories=False)
    arms = load_arms(absolute_uri(uri), runs.trials, runs.axes)
    paired = comparisons(arms, runs.axes, runs.reference)
    if paired.empty:
        return "\nno paired comparison: no finished trial has per-clip predictions"
    columns = [c for c in ("Δ vs scratch", "Δ vs reference") if c in paired]
    rows = [[str(r[a]) for a in runs.axes] + [str(r["seeds"])] + [r[c] for c in columns] for _, r in paired.iterrows()]
    readings = [r for c in columns for r in paired[f"{c}: reading"] if r]
    findings = checked_directions(arms, runs.trials)
    checked = [f"- {f['paper']}: {f['finding']}: {f['A']} − {f['B']} {f['Δ A − B']} (margin {f['margin']:+g}) → "
               f"{f['verdict']}" for _, f in findings.iterrows()]
    return ("\nTest top-1 differences in points, paired on the same seeds and test clips (95 % bootstrap interval):\n"
            + _format_table([*runs.axes, "seeds", *columns], rows) + "\n" + "\n".join(f"- {r}" for r in readings)
            + ("\nThe papers' findings this study checks:\n" + "\n".join(checked) if checked else ""))


def _error_summary(error: BaseException, max_lines: int = 25) -> str:
    """The innermost error's own message (a worker's traceback ends with it), trimmed."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    start = max((i for i, line in enumerate(lines) if line.startswith(("RuntimeError", "ValueError",
                 "FileNotFoundError", "KeyError", "TypeError"))), default=max(0, len(lines) - max_lines))
    return "\n".join("  " + line for line in lines[start:start + max_lines])


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1f}%"


def cmd_data_synth(args) -> int:
    from trainables.data import synth
    manifest = synth.generate(args.dir, args.clips_per_class, args.size, args.frames, args.fps, args.seed,
                              args.test_clips_per_class, args.style)
    print(f"synthetic-actions ({args.style}) in {args.dir}: {len(manifest['classes'])} classes, splits {manifest['splits']}")
    return 0


def cmd_data_check(args) -> int:
    from trainables.data.check import check_list
    return check_list(args.list, args.num_frames, args.sampling_rate, args.input_size, args.num_classes)


def cmd_data_tokenizer(args) -> int:
    import json

    from orchestrator.launch import build_tokenizers, needs_tokenizer, prepare_data
    _, trials = _load(args.study, args.preset)
    if not any(needs_tokenizer(t) for t in trials):
        print(f"no trial of {args.study} has a vq_codes target: no tokenizer to build")
        return 0
    folders = build_tokenizers(trials, prepare_data(trials))
    for folder in sorted(set(folders.values())):
        info = json.loads((Path(folder) / "tokenizer.json").read_text())
        m = info["metrics"]
        users = ", ".join(k for k, v in sorted(folders.items()) if v == folder)
        print(f"{folder}: codebook {info['config']['codebook_size']}, {m['codes_used']} codes used, "
              f"reconstruction MSE {m['reconstruction_mse']:.4f} (pixel variance {m['pixel_variance']:.4f}); "
              f"trials {users}")
    return 0


def cmd_data_motion(args) -> int:
    from trainables.data.motion_extract import extract_dataset
    return extract_dataset(args.dir)


def cmd_mask(args) -> int:
    from orchestrator import mask_preview
    grid = mask_preview.parse_grid(args.grid)
    options = {k: v for k, v in {"cell": tuple(args.cell) if args.cell else None,
                                 "random_phase": args.random_phase, "shuffle_time": args.shuffle_time}.items()
               if v is not None}
    mask, clip = mask_preview.preview_mask(args.strategy, args.ratio, grid, args.seed, not args.eval,
                                           args.video, options)
    if args.png:
        title = f"{args.strategy} ratio {args.ratio}, grid {list(grid)}, {'eval' if args.eval else 'train'} seed {args.seed}"
        mask_preview.draw(mask, clip, title, args.png)
    if args.json or not args.png:
        print(mask_preview.mask_json(mask))
    return 0


def _study_name(study: str, preset: str | None = None) -> str:
    """A study file's name (its MLflow experiment), or the name itself."""
    if study.endswith((".yaml", ".yml")) or Path(study).is_file():
        from orchestrator.study import load_study
        spec = load_study(study, preset)
        return spec.tracking.experiment or spec.name
    return f"{study}-{preset}" if preset else study


def cmd_report(args) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    from dashboards.report import build
    from trainables.tracking import absolute_uri
    name = _study_name(args.study, args.preset)
    out = Path(args.out or f"reports/{name}")
    uri = absolute_uri(args.tracking_uri)
    preflight.check_store_exists(uri)
    page = build(uri, name, out, args.study_id, log_to_parent=not args.no_log)
    print(f"report: {page.resolve()}" + ("" if args.no_log else " (also logged to the study's parent run, folder report/)"))
    return 0


def cmd_status(args) -> int:
    import time

    from dashboards.status import summary
    from trainables.tracking import absolute_uri
    name = _study_name(args.study, args.preset)
    uri = absolute_uri(args.tracking_uri)
    preflight.check_store_exists(uri)
    while True:
        text = summary(uri, name, args.study_id)
        print(text, flush=True)
        if not args.watch:
            return 0
        time.sleep(args.watch)
        print()


def cmd_compare(args) -> int:
    from dashboards.compare import compare
    from trainables.tracking import absolute_uri
    study = _study_name(args.study) if args.study else None
    uri = absolute_uri(args.tracking_uri)
    preflight.check_store_exists(uri)
    print(compare(uri, args.run_a, args.run_b, study))
    return 0


def cmd_ui(args) -> int:
    from trainables.tracking import absolute_uri
    uri = absolute_uri(args.tracking_uri)
    preflight.check_port_free(args.host, args.port)
    destination = args.artifacts_destination
    artifacts = destination if "://" in destination else str(Path(destination).resolve())
    # `mlflow server`: the UI, the REST API, and artifact uploads proxied to --artifacts-destination
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--artifacts-destination", artifacts, "--host", args.host, "--port", str(args.port),
           "--workers", str(args.workers)]
    # MLflow's background job runners (GenAI evaluation jobs, ~8 processes) serve no maskray feature
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    print(f"MLflow UI and tracking server on http://{args.host}:{args.port} for {uri} "
          f"(uploaded artifacts in {artifacts})", flush=True)
    _print_study_pages(uri, f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: --host {args.host} makes the server reachable from other machines; MLflow's server "
              f"has no authentication of its own here: keep it on a private network", flush=True)
    os.execv(sys.executable, cmd)


def _print_study_pages(uri: str, server: str, most: int = 10) -> None:
    """The UI page of each study in the store (newest first), on the runs table."""
    from trainables import tracking
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return
    try:
        experiments = tracking.client(uri).search_experiments(max_results=most + 1, order_by=["creation_time DESC"])
    except Exception:   # the server starts all the same; its own log says what is wrong
        return
    for e in [e for e in experiments if e.name != "Default"][:most]:
        print(f"  study {e.name}: {tracking.ui_url(server, e.experiment_id)}", flush=True)


def _study_reader_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of the commands that read a study back from MLflow."""
    parser.add_argument("study", help="a study file or a study name")
    parser.add_argument("--preset", help="the preset the study ran with")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--study-id", help="one execution (default: the latest)")


def _run_args(parser: argparse.ArgumentParser) -> None:
    """The arguments of `run` and `resume`."""
    parser.add_argument("study")
    parser.add_argument("--preset", help="a preset of the study file (e.g. paper: ViT-B, 16×224, the papers' epochs)")
    parser.add_argument("--address", help="join an existing Ray cluster (default: RAY_ADDRESS, else start a local Ray)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (overrides tracking.uri)")
    parser.add_argument("--storage", help="Ray storage path or URI (overrides storage.path)")
    parser.add_argument("--num-cpus", type=int, help="CPUs for a local Ray (default: all)")
    parser.add_argument("--verbose", action="store_true", help="show Ray's and the workers' own logs")
    parser.add_argument("--no-pretrain-cache", action="store_true",
                        help="pretrain in every trial, even where an identical pretraining already finished")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maskray", description="Ablation studies of masked video pretraining on Ray.")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="expand and check a study; print its trials")
    v.add_argument("study")
    v.add_argument("--preset", help="a preset of the study file (e.g. paper)")
    v.add_argument("--online", action="store_true",
                   help="also check that the tracking server answers and the storage path can be written")
    v.set_defaults(func=cmd_validate)

    r = sub.add_parser("run", help="run a study: Tune trials of Ray Train pretraining and fine-tuning")
    _run_args(r)
    r.set_defaults(func=cmd_run)

    rs = sub.add_parser("resume", help="continue an interrupted study execution: finished trials are kept, "
                                       "the others resume from their last checkpoint, in the same MLflow runs")
    _run_args(rs)
    rs.add_argument("--study-id", help="the execution to continue (default: the latest unfinished one)")
    rs.add_argument("--retry-failed", action="store_true", help="also rerun the trials that failed")
    rs.set_defaults(func=cmd_run)

    d = sub.add_parser("data", help="datasets: generate synthetic-actions, check a list")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="generate the synthetic-actions dataset")
    s.add_argument("dir")
    s.add_argument("--clips-per-class", type=int, default=40, help="split 70/15/15 into train/val/test")
    s.add_argument("--test-clips-per-class", type=int, help="test clips per class instead of the 15 %% share")
    s.add_argument("--style", choices=SYNTH_STYLES, default="flat",
                   help="flat (default): plain colours, no noise; textured: noisy, textured, panning")
    s.add_argument("--size", type=int, default=64)
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--fps", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_data_synth)
    c = dsub.add_parser("check", help="decode every clip of a list as training will; report bad ones")
    c.add_argument("list")
    c.add_argument("--num-frames", type=int, default=16)
    c.add_argument("--sampling-rate", type=int, default=4)
    c.add_argument("--input-size", type=int, default=224)
    c.add_argument("--num-classes", type=int)
    c.set_defaults(func=cmd_data_check)

    mo = dsub.add_parser("motion", help="extract and cache codec motion vectors (motion_guided masking)")
    mo.add_argument("dir", help="a dataset root: the videos of its train/val/test lists, else every video under it")
    mo.set_defaults(func=cmd_data_motion)
    tk = dsub.add_parser("tokenizer", help="train (or find) the VQ tokenizer of a study's vq_codes trials")
    tk.add_argument("study")
    tk.add_argument("--preset", help="a preset of the study file")
    tk.set_defaults(func=cmd_data_tokenizer)

    m = sub.add_parser("mask", help="print or draw one mask of a strategy")
    m.add_argument("strategy")
    m.add_argument("--ratio", type=float, required=True)
    m.add_argument("--grid", required=True, help="T,H,W tokens, e.g. 8,14,14")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--eval", action="store_true", help="the evaluation mask (deterministic strategies)")
    m.add_argument("--video", help="a clip, for strategies that need one (motion_guided)")
    m.add_argument("--cell", type=int, nargs=3, metavar=("T", "H", "W"), help="cell_running cell")
    m.add_argument("--random-phase", action=argparse.BooleanOptionalAction, default=None)
    m.add_argument("--shuffle-time", action=argparse.BooleanOptionalAction, default=None)
    m.add_argument("--json", action="store_true", help="print the mask as JSON (default without --png)")
    m.add_argument("--png", help="draw the mask (over the clip with --video) to this file")
    m.set_defaults(func=cmd_mask)

    rp = sub.add_parser("report", help="HTML report of a study: ablation table, plots, masks, papers' numbers")
    _study_reader_args(rp)
    rp.add_argument("--out", help="folder for report.html, PNGs and CSVs (default: reports/<study>)")
    rp.add_argument("--no-log", action="store_true", help="do not log the report to the parent run")
    rp.set_defaults(func=cmd_report)

    st = sub.add_parser("status", help="trials pending/running/done/failed, stage and epoch, best, ETA")
    _study_reader_args(st)
    st.add_argument("--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until Ctrl-C")
    st.set_defaults(func=cmd_status)

    cp = sub.add_parser("compare", help="config and metric differences of two trials")
    cp.add_argument("run_a", help="an MLflow run id, or a trial key (t003) with --study")
    cp.add_argument("run_b")
    cp.add_argument("--study", help="a study file or name, for trial keys")
    cp.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    cp.set_defaults(func=cmd_compare)

    u = sub.add_parser("ui", aliases=["server"], help=(
        "MLflow UI and tracking server (127.0.0.1 unless --host): `maskray server --host 0.0.0.0 "
        "--tracking-uri postgresql://... --artifacts-destination s3://...` for a cluster"))
    u.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=UI_PORT)
    u.add_argument("--artifacts-destination", default="./mlartifacts",
                   help="where artifacts uploaded through the server go")
    u.add_argument("--workers", type=int, default=1)
    u.set_defaults(func=cmd_ui)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserInputError as e:
        print(f"error: {e.render()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:   # the study's runs are already closed (orchestrator/launch.py)
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `maskray validate x.yaml | head`: the reader left, not an error
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
