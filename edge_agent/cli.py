"""Command line of the edge agent (``metro-edge``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edge_agent.threads import AUTO, ThreadCount, parse_thread_count
from metro_common import __version__
from metro_common.assets import PROJECT_ROOT, AssetError, assets_dir, fetch_assets

# Kept in step with edge_agent.detector, which this module imports only when detecting.
DEFAULT_SPEC = PROJECT_ROOT / "models" / "yolox_nano.yaml"


def _thread_count(text: str) -> ThreadCount:
    try:
        return parse_thread_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_assets_fetch(args: argparse.Namespace) -> int:
    offline = [Path(p) for p in args.offline_dirs or []]
    try:
        placed = fetch_assets(dest=args.dest, offline_dirs=offline, names=args.names or None)
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in placed:
        print(f"ok  {path}")
    return 0


def _cmd_check_config(args: argparse.Namespace) -> int:
    from edge_agent.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}")
        return 1
    cameras = ", ".join(camera.camera_id for camera in config.cameras)
    print(f"{args.file}: valid ({len(config.cameras)} camera(s): {cameras})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from edge_agent.config import ConfigError, load_config
    from edge_agent.runtime.agent import Agent

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            logging.getLogger("edge_agent").error("%s: %s", args.config, problem)
        return 2
    agent = Agent(config, args.config)
    agent.install_signal_handlers()
    return agent.run()


def _cmd_detect(args: argparse.Namespace) -> int:
    # Imported here so 'assets fetch' works without numpy, OpenCV or onnxruntime.
    import cv2
    import numpy as np

    from edge_agent.core.filtering import DetectionFilter
    from edge_agent.detector import Detector, DetectorError

    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        print(f"error: cannot read image {args.image}: missing file or unsupported format", file=sys.stderr)
        return 1
    try:
        detector = Detector.from_spec_file(args.spec, args.model, threads=args.threads)
    except (AssetError, DetectorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    detections = detector.detect(np.asarray(image, dtype=np.uint8))
    if not args.raw:
        # The agent's own rule: one physical vehicle is one detection, not car + truck.
        detections = DetectionFilter(allowed_labels=frozenset()).merge_vehicles(detections)

    if args.json:
        rows = [
            {"label": d.label, "confidence": round(d.confidence, 4), "xyxy": [round(v, 1) for v in d.xyxy]}
            for d in detections
        ]
        print(json.dumps(rows))
    else:
        for d in detections:
            x1, y1, x2, y2 = d.xyxy
            print(f"{d.label:<14} {d.confidence:.3f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]")
    if args.annotated is not None:
        for d in detections:
            x1, y1, x2, y2 = (round(v) for v in d.xyxy)
            cv2.rectangle(image, (x1, y1), (x2, y2), (0, 200, 0), 2)
            cv2.putText(image, f"{d.label} {d.confidence:.2f}", (x1, max(12, y1 - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1, cv2.LINE_AA)
        if not cv2.imwrite(str(args.annotated), image):
            print(f"error: cannot write {args.annotated}; check the folder exists and the extension is .jpg or .png",
                  file=sys.stderr)
            return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metro-edge",
        description="Metro edge agent: reads cameras, detects people and vehicles, "
        "and publishes events to the command centre over MQTT.",
    )
    parser.add_argument("--version", action="version", version=f"metro-edge {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (DEBUG, INFO, WARNING)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    assets = commands.add_parser("assets", help="fetch and verify model weights and sample footage")
    assets_cmds = assets.add_subparsers(dest="assets_command", metavar="ACTION", required=True)
    fetch = assets_cmds.add_parser(
        "fetch", help="download (or copy with --from) every manifest asset and check its sha256"
    )
    fetch.add_argument(
        "--from", dest="offline_dirs", action="append", metavar="DIR",
        help="copy from this offline folder (and its subfolders) instead of downloading; repeatable",
    )
    fetch.add_argument("--dest", type=Path, default=None,
                       help=f"target folder (default: METRO_ASSETS_DIR or {assets_dir()})")
    fetch.add_argument("names", nargs="*", help="only these assets (file or manifest name)")
    fetch.set_defaults(handler=_cmd_assets_fetch)

    detect = commands.add_parser("detect", help="run the object detector on one image and print the detections")
    detect.add_argument("image", type=Path, help="image file (JPEG, PNG)")
    detect.add_argument("--json", action="store_true",
                        help="print a JSON list of {label, confidence, xyxy} with boxes in image pixels")
    detect.add_argument("--annotated", type=Path, metavar="OUT", help="also write the image with boxes drawn to OUT")
    detect.add_argument("--model", type=Path, default=None,
                        help="ONNX weights (default: the verified asset named in the model spec)")
    detect.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help=f"model spec file (default: {DEFAULT_SPEC})")
    detect.add_argument("--threads", type=_thread_count, default=AUTO,
                        help="ONNX Runtime intra-op threads, or 'auto' for one per CPU core less one (default: auto)")
    detect.add_argument("--raw", action="store_true",
                        help="print the model's output as decoded, without merging overlapping vehicle boxes")
    detect.set_defaults(handler=_cmd_detect)

    run = commands.add_parser("run", help="run the agent for every camera in a config file until SIGTERM")
    run.add_argument("--config", type=Path, required=True, metavar="FILE", help="agent config (YAML)")
    run.set_defaults(handler=_cmd_run)

    check = commands.add_parser(
        "check-config", help="validate a config file; prints one line per problem with its key path and fix"
    )
    check.add_argument("file", type=Path, metavar="FILE", help="agent config (YAML)")
    check.set_defaults(handler=_cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args))
