"""Write or check docs/mqtt-schema.json: ``python -m metro_common.schema [--check]``."""

from __future__ import annotations

import sys
from pathlib import Path

from metro_common.messages import render_schema_file

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "mqtt-schema.json"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render_schema_file()
    if "--check" in args:
        if not SCHEMA_PATH.exists() or SCHEMA_PATH.read_text() != text:
            print(f"{SCHEMA_PATH} is stale: run 'python -m metro_common.schema' and commit it")
            return 1
        return 0
    SCHEMA_PATH.write_text(text)
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
