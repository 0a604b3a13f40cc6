"""Command line of the hub (``metro-hub``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from hub.settings import HubSettings

from metro_common import __version__

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metro-hub",
        description="Metro hub: ingests camera events over MQTT, serves the operator "
        "dashboard, the citizen complaint service and conference links. Settings come "
        "from METRO_HUB_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"metro-hub {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (DEBUG, INFO, WARNING)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate the database, then serve the hub (and its embedded broker)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument(
        "--forwarded-allow-ips", default="127.0.0.1",
        help="reverse proxies whose X-Forwarded-Proto is trusted, so cookies get Secure behind TLS (default 127.0.0.1)",
    )
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations up to the newest")
    migrate.set_defaults(handler=_migrate)

    user = commands.add_parser("create-user", help="add a user; the password is read from standard input")
    user.add_argument("username", help="login name: lowercase letters, digits, '.', '_' or '-'")
    user.add_argument("--role", required=True, choices=("admin", "operator", "viewer"), help="what the user may do")
    user.set_defaults(handler=_create_user)

    camera = commands.add_parser("camera", help="manage the camera registry")
    camera_commands = camera.add_subparsers(dest="camera_command", metavar="ACTION", required=True)
    add = camera_commands.add_parser("add", help="register one camera and print its device token")
    add.add_argument("camera_id", help="camera id used in MQTT topics, e.g. cam-07")
    add.add_argument("--name", required=True, help="name shown to operators")
    add.add_argument("--lat", type=float, required=True, help="latitude, WGS84 degrees")
    add.add_argument("--lon", type=float, required=True, help="longitude, WGS84 degrees")
    add.add_argument("--address", default="", help="street address or landmark")
    add.add_argument("--source-kind", default="rtsp", help="file, rtsp, http, usb or picamera2 (default rtsp)")
    add.set_defaults(handler=_camera_add)
    bulk = camera_commands.add_parser(
        "import", help="add or update cameras from a YAML list; prints a JSON line per camera with any new token"
    )
    bulk.add_argument("file", type=Path, help="YAML file: a list of {id, name, lat, lon, address, source_kind, device_token}")
    bulk.set_defaults(handler=_camera_import)
    return parser


def _settings() -> HubSettings:
    from hub.settings import HubSettings

    return HubSettings()


def _now() -> datetime:
    return datetime.now(UTC)


def _migrate(args: argparse.Namespace) -> int:
    from hub.migrate import upgrade

    upgrade(_settings().resolved_database_url)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.migrate import upgrade

    settings = _settings()
    upgrade(settings.resolved_database_url)
    app = create_app(settings)
    uvicorn.run(
        app, host=args.host, port=args.port, proxy_headers=True, forwarded_allow_ips=args.forwarded_allow_ips,
        log_config=None,
    )
    return 0


def _session_factory() -> sessionmaker[Session]:
    from hub.db import make_engine, make_session_factory
    from hub.migrate import upgrade

    url = _settings().resolved_database_url
    upgrade(url)
    return make_session_factory(make_engine(url))


def _create_user(args: argparse.Namespace) -> int:
    from hub.auth.passwords import PasswordError
    from hub.auth.users import UserError, create_user
    from hub.db import session_scope

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        with session_scope(_session_factory()) as session:
            create_user(session, args.username, password, args.role, _now())
    except (UserError, PasswordError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {args.role} {args.username}")
    return 0


def _camera_add(args: argparse.Namespace) -> int:
    from hub.cameras.registry import CameraCreate, RegistryError, create_camera
    from hub.db import session_scope

    try:
        data = CameraCreate(
            id=args.camera_id, name=args.name, lat=args.lat, lon=args.lon, address=args.address,
            source_kind=args.source_kind,
        )
        with session_scope(_session_factory()) as session:
            _, token = create_camera(session, data, _now())
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}", file=sys.stderr)
        return 1
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0


def _camera_import(args: argparse.Namespace) -> int:
    from hub.cameras.registry import RegistryError, import_cameras, load_camera_file
    from hub.db import session_scope

    try:
        cameras = load_camera_file(args.file)
        with session_scope(_session_factory()) as session:
            results = import_cameras(session, cameras, _now())
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for camera_id, token in results:
        print(json.dumps({"id": camera_id, "device_token": token}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_level.upper() != "DEBUG":
        # Alembic logs every plugin it loads at INFO; the hub logs the migration result itself.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # amqtt logs each broker state transition and packet at INFO.
        logging.getLogger("transitions").setLevel(logging.WARNING)
        logging.getLogger("amqtt").setLevel(logging.WARNING)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args))
