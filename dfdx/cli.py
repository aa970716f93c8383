"""Argument parsing only: each command turns its options into config overrides and calls one function.

Every option is also a config key (the command line wins). The underscore spellings of the scripts
people migrate from (`--output_dir`, `--max_videos`, ...) are accepted as aliases.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dfdx import __version__
from dfdx.config import CHOICES, Config, load_config
from dfdx.errors import exit_code_for, print_error
from dfdx.layout import HTML_NAME

# option → (dotted config key, argparse kwargs); the underscore alias is derived from the name.
EXTRACT_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--dataset-path": ("dataset_path", {"metavar": "DIR", "help": "dataset root (default: dfd_dataset)"}),
    "--output-dir": ("output_dir", {"metavar": "DIR", "help": "where frames, ledger and report go (default: data)"}),
    "--max-videos": ("max_videos", {"type": int, "metavar": "N",
                                    "help": "at most N videos per category: a seeded sample, stable across runs"}),
    "--num-workers": ("num_workers", {"type": int, "metavar": "N",
                                      "help": "concurrent ffmpeg/ffprobe children (default: CPU cores)"}),
    "--frames": ("extract.frames", {"type": int, "metavar": "N",
                                    "help": "N frames at k/(N+1) of the duration (default: positions 1/3, 1/2, 2/3)"}),
    "--positions": ("extract.positions", {"metavar": "P,P,..",
                                          "help": "fractions in (0, 1), e.g. 1/3,1/2,2/3 or 0.25,0.75"}),
    "--jpeg-quality": ("extract.jpeg_quality", {"type": int, "metavar": "Q",
                                                "help": "IJG/libjpeg quality scale (default: 95)"}),
    "--seek": ("extract.seek", {"choices": CHOICES["extract.seek"],
                                "help": "exact: the frame played at each position (default); "
                                        "keyframe: the nearest keyframe, faster"}),
    "--probe": ("extract.probe", {"choices": CHOICES["extract.probe"],
                                  "help": "ffprobe: one ffprobe child per video (default); index: read the frame grid "
                                          "from the MP4's own sample tables in process (the same grid; ffprobe for "
                                          "other containers and any file it doubts)"}),
    "--grabber": ("extract.grabber", {"choices": CHOICES["extract.grabber"],
                                      "help": "ffmpeg: one ffmpeg CLI child per seek (default); pyav: long-lived PyAV "
                                              "workers that skip non-reference frames, faster (pip install "
                                              "'dfdx[pyav]')"}),
    "--crop": ("extract.crop", {"choices": CHOICES["extract.crop"],
                                "help": "none: whole frames (default); face: the face of each frame, cropped "
                                        "(extract.face in config.yaml; pip install 'dfdx[faces]')"}),
    "--timeout": ("extract.timeout_s", {"type": float, "metavar": "S",
                                        "help": "kill one ffmpeg/ffprobe after S seconds (default: 300)"}),
    "--batch-size": ("extract.batch_size", {"type": int, "metavar": "N",
                                            "help": "fsync the ledger every N videos (and every 2 s at least)"}),
    "--seed": ("seed", {"type": int, "help": "seed of the --max-videos sample (default: 0)"}),
    "--profile": ("dataset.profile", {"choices": CHOICES["dataset.profile"],
                                      "help": "which dataset this is: where its videos are and what each one is "
                                              "(default: auto, detected from the tree)"}),
    "--compression": ("dataset.compression", {"choices": CHOICES["dataset.compression"],
                                              "help": "FaceForensics++ layouts: which compression (default: c23)"}),
    "--methods": ("dataset.methods", {"metavar": "M,M,..", "type": lambda text: [m for m in text.split(",") if m],
                                      "help": "FaceForensics++: which manipulation methods (default: all five)"}),
    "--splits-dir": ("dataset.splits_dir", {"metavar": "DIR",
                                            "help": "FaceForensics++: folder of the official train/val/test.json"}),
    "--runner": ("run.runner", {"choices": CHOICES["run.runner"],
                                "help": "local: this machine (default); ray: shards over a Ray cluster (pip install "
                                        "'dfdx[ray]')"}),
    "--ray-address": ("run.ray.address", {"metavar": "ADDR",
                                          "help": "with --runner ray: host:port or auto to join a cluster (default: "
                                                  "start Ray on this machine)"}),
    "--shards": ("run.ray.shards", {"type": int, "metavar": "N",
                                    "help": "with --runner ray: tasks, one ledger each (default: 4 per task slot)"}),
}  # fmt: skip
DOWNLOAD_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--download-dir": ("download.download_dir", {"metavar": "DIR",
                                                 "help": "where downloads go (default: dfd_dataset)"}),
    "--dataset": ("download.dataset", {"metavar": "OWNER/SLUG", "help": "the Kaggle dataset (default: DFD)"}),
}  # fmt: skip
PARTS_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--parts": ("download.parts", {"metavar": "PARTS",
                                   "help": "with --profile dfdc: the parts to fetch and extract, e.g. 0-9,12 "
                                           "(default: all 50)"}),
}  # fmt: skip
FLAGS: dict[str, tuple[str, str]] = {
    "--resume": ("extract.resume", "skip videos the ledger says are done (default: on)"),
    "--retry-failed": ("extract.retry_failed", "also redo videos whose last attempt failed"),
}


def _add_options(parser: argparse.ArgumentParser, options: dict[str, tuple[str, dict[str, Any]]]) -> None:
    for flag, (key, kwargs) in options.items():
        names = [flag] + ([flag.replace("-", "_").replace("__", "--", 1)] if "-" in flag[2:] else [])
        parser.add_argument(*names, dest=key, default=argparse.SUPPRESS, **kwargs)


def _add_flags(parser: argparse.ArgumentParser) -> None:
    for flag, (key, help_text) in FLAGS.items():
        names = [flag, flag.replace("-", "_").replace("__", "--", 1)] if "-" in flag[2:] else [flag]
        parser.add_argument(*names, dest=key, action=argparse.BooleanOptionalAction,
                            default=argparse.SUPPRESS, help=help_text)  # fmt: skip


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML config (see config.yaml for every key)")
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", dest="verbose", action="store_true", default=argparse.SUPPRESS,
                       help="mirror the log to the console")  # fmt: skip
    noise.add_argument("-q", "--quiet", dest="quiet", action="store_true", default=argparse.SUPPRESS,
                       help="errors only")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfdx",
        description="Deepfake video datasets (DFD on Kaggle) → exact, resumable, training-ready JPEG frames.",
        epilog="Every option is also a config key (see config.yaml); `dfdx COMMAND --help` lists them.",
    )
    parser.add_argument("--version", action="version", version=f"dfdx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    extract = sub.add_parser("extract", help="extract frames from every video into OUTPUT/{ai,real}/")
    _add_common(extract)
    _add_options(extract, EXTRACT_OPTIONS)
    _add_flags(extract)
    extract.add_argument("--verify-only", "--verify_only", dest="verify_only", action="store_true",
                         help="extract nothing: verify OUTPUT's frames against the ledger (as `dfdx verify`)")

    report = sub.add_parser("report", help="rebuild extraction_report.json from the ledger and print it")
    _add_common(report)
    _add_options(report, {k: EXTRACT_OPTIONS[k] for k in ("--output-dir", "--dataset-path")})
    report.add_argument("--html", action="store_true", help=f"also write OUTPUT/{HTML_NAME} (one file: thumbnails "
                        "inlined; face crops' full frames are decoded from --dataset-path)")

    verify = sub.add_parser("verify", help="check every frame against the ledger; exit 0 clean, 1 problems")
    _add_common(verify)
    _add_options(verify, {k: EXTRACT_OPTIONS[k] for k in ("--output-dir", "--num-workers")})
    verify.add_argument("--fix", action="store_true",
                        help="remove bad frames, orphans and temp files; re-queue their videos for `dfdx extract`")

    split = sub.add_parser("split", help="assign videos to train/val/test so that no actor is in two splits")
    _add_common(split)
    _add_options(split, {k: EXTRACT_OPTIONS[k] for k in ("--output-dir", "--seed")})
    split.add_argument("--ratios", dest="split.ratios", metavar="T,V,T", default=argparse.SUPPRESS,
                       type=lambda text: [float(x) for x in text.split(",")],
                       help="train,val,test shares (default: 0.8,0.1,0.1)")
    split.add_argument("--mode", dest="split.mode", choices=CHOICES["split.mode"], default=argparse.SUPPRESS,
                       help="groups: linked actors stay together, every video assigned; actors: split the actors, "
                            "leave out manipulated videos whose actors would cross splits; auto (default): groups "
                            "when they fill every split, else actors; official: the dataset's own split (FF++ pairs, "
                            "Celeb-DF's test list, DFDC parts)")
    split.add_argument("--val-parts", dest="split.val_parts", metavar="PARTS", default=argparse.SUPPRESS,
                       help="--mode official, DFDC: the parts that are val, e.g. 45-47,49 (the other parts train)")
    split.add_argument("--test-parts", dest="split.test_parts", metavar="PARTS", default=argparse.SUPPRESS,
                       help="--mode official, DFDC: the parts that are test")

    export = sub.add_parser("export", help="write the dataset JSON a training framework reads (DeepfakeBench), "
                            "pointing at OUTPUT's frames")  # fmt: skip
    _add_common(export)
    _add_options(export, {"--output-dir": EXTRACT_OPTIONS["--output-dir"]})
    export.add_argument("--format", dest="export_format", choices=CHOICES["export.format"], default="deepfakebench",
                        help="deepfakebench (default): SCLBD/DeepfakeBench's dataset JSON")
    export.add_argument("--output", dest="export_output", metavar="FILE", required=True,
                        help="the JSON to write (a folder: FOLDER/NAME.json, the name DeepfakeBench opens)")
    export.add_argument("--name", dest="export_name", metavar="NAME",
                        help="the DeepfakeBench dataset: FaceForensics++, FF-DF, FF-F2F, FF-FS, FF-NT, FaceShifter, "
                             "DeepFakeDetection, Celeb-DF-v2, DFDC (default: the one the ledger's videos are)")

    download = sub.add_parser("download", help="fetch the dataset from Kaggle (all, or --max-videos per category)")
    _add_common(download)
    _add_options(download, DOWNLOAD_OPTIONS)
    _add_options(download, {k: EXTRACT_OPTIONS[k] for k in ("--max-videos", "--seed")})
    download.add_argument("--list", "--files-only", dest="list_only", action="store_true",
                          help="print counts and sizes per category; download nothing")  # fmt: skip
    download.add_argument("--delete-archive", "--delete_archive", dest="download.delete_archive",
                          action="store_true", default=argparse.SUPPRESS,
                          help="delete the full archive once every member is unpacked and verified")  # fmt: skip
    download.add_argument("--unpack-all", dest="unpack_all", action="store_true",
                          help="unpack every member of the archive, not only videos and metadata")  # fmt: skip

    run = sub.add_parser("run", help="the whole pipeline: download, then extract (and the report)")
    _add_common(run)
    _add_options(run, EXTRACT_OPTIONS)
    _add_flags(run)
    _add_options(run, DOWNLOAD_OPTIONS)
    _add_options(run, PARTS_OPTIONS)
    run.add_argument("--delete-archive", "--delete_archive", dest="download.delete_archive", action="store_true",
                     default=argparse.SUPPRESS, help="delete the archive once unpacked and verified; with --profile "
                     "dfdc, each part's zip and videos once its frames are recorded")  # fmt: skip
    stage = run.add_mutually_exclusive_group()
    stage.add_argument("--download-only", "--download_only", dest="download_only", action="store_true",
                       help="stop after the download")  # fmt: skip
    stage.add_argument("--process-only", "--process_only", dest="process_only", action="store_true",
                       help="skip the download: extract what is in --dataset-path")  # fmt: skip

    demo = sub.add_parser("demo", help="generate a small DFD-shaped sample and run the whole pipeline on it")
    demo.add_argument("--dir", default="demo", help="where the sample and its frames go (default: demo)")
    return parser


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    skip = {"command", "config", "dir", "verify_only", "html", "fix", "list_only", "unpack_all", "download_only",
            "process_only", "export_format", "export_output", "export_name"}
    return {k: v for k, v in vars(args).items() if k not in skip}


def config_from(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), overrides_from(args))


def cmd_extract(args: argparse.Namespace) -> int:
    from dfdx.run.command import run_extract

    if args.verify_only:
        return cmd_verify(args)
    return run_extract(config_from(args))


def cmd_report(args: argparse.Namespace) -> int:
    from dfdx.inspect.report import summary_text, write_report
    from dfdx.ledger import require_ledger

    cfg = config_from(args)
    out = Path(cfg.output_dir)
    require_ledger(out)
    report = write_report(out)
    print(summary_text(out, report))
    if args.html:
        from dfdx.inspect.html import write_html_report

        dataset = Path(cfg.dataset_path)
        print(f"  html  : {write_html_report(out, report, dataset_root=dataset if dataset.is_dir() else None)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from dfdx.inspect.verify import run_verify

    cfg = config_from(args)
    return run_verify(Path(cfg.output_dir), fix=getattr(args, "fix", False), workers=cfg.num_workers,
                      quiet=cfg.quiet)  # fmt: skip


def cmd_split(args: argparse.Namespace) -> int:
    from dfdx.train.splits import run_split

    cfg = config_from(args)
    return run_split(Path(cfg.output_dir), cfg.split.ratios, cfg.seed, cfg.split.mode, quiet=cfg.quiet,
                     val_parts=cfg.split.val_parts, test_parts=cfg.split.test_parts)


def cmd_export(args: argparse.Namespace) -> int:
    from dfdx.train.export import run_export

    cfg = config_from(args)
    return run_export(Path(cfg.output_dir), args.export_format, Path(args.export_output), args.export_name,
                      quiet=cfg.quiet)  # fmt: skip


def cmd_download(args: argparse.Namespace) -> int:
    from dfdx.datasets.download import download

    return download(config_from(args), list_only=args.list_only, unpack_all=args.unpack_all)


def cmd_run(args: argparse.Namespace) -> int:
    """Download into the dataset folder, then extract it: with --max-videos only the sampled videos are
    fetched, and the same seeded sample is what extraction then picks. DFDC (`--profile dfdc`) goes part
    by part instead: each part downloaded, extracted and (`download.delete_archive`) deleted in turn."""
    from dfdx.datasets.download import download
    from dfdx.run.command import run_extract

    overrides = overrides_from(args)
    if not args.process_only:
        # One folder for both steps: --dataset-path if given, else download.download_dir.
        folder = overrides.get("dataset_path") or overrides.get("download.download_dir")
        if folder is None:
            folder = load_config(getattr(args, "config", None), overrides).download.download_dir
        overrides.update({"dataset_path": folder, "download.download_dir": folder})
    cfg = load_config(getattr(args, "config", None), overrides)
    if cfg.dataset.profile == "dfdc" and not args.process_only:
        return run_extract(cfg, by_part=True, extract=not args.download_only)  # each part fetched, then extracted
    if not args.process_only:
        code = download(cfg)
        if code != 0 or args.download_only:
            return code
    return run_extract(cfg)


def cmd_demo(args: argparse.Namespace) -> int:
    from dfdx.demo import run_demo

    return run_demo(Path(args.dir))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "extract": cmd_extract,
    "report": cmd_report,
    "verify": cmd_verify,
    "split": cmd_split,
    "export": cmd_export,
    "download": cmd_download,
    "run": cmd_run,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (Exception, KeyboardInterrupt) as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        if isinstance(exc, KeyboardInterrupt):
            print("\ndfdx: interrupted", file=sys.stderr)
        else:
            print_error(str(exc))
        return code
