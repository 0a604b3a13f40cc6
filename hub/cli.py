"""Command line of the hub (``metro-hub``)."""

from __future__ import annotations

import argparse
import logging

from metro_common import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metro-hub",
        description="Metro hub: ingests camera events over MQTT, serves the operator "
        "dashboard, the citizen complaint service and conference links.",
    )
    parser.add_argument("--version", action="version", version=f"metro-hub {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (DEBUG, INFO, WARNING)")
    parser.add_subparsers(dest="command", metavar="COMMAND")
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
