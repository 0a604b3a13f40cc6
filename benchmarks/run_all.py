"""Run every benchmark one after another and print a table of targets, measured values and pass/fail.

Each benchmark is a module run as ``python -m benchmarks.NAME`` from the repository
root. Its lines of the form ``NAME metric=VALUE target=VALUE`` are collected; the last
one is its headline. The soak run (20+ minutes) is left out unless ``--soak`` is given.

Run: ``.venv/bin/python benchmarks/run_all.py [--only hub_ingest,hub_api] [--quick] [--markdown FILE]``
Exit code 0 when every collected figure met its target, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness import Headline, machine_summary, parse_headline  # noqa: E402 - needs ROOT on sys.path first

# (module, arguments for a full run, arguments for --quick). The quick sizes still
# repeat every comparison 3 times and keep 100,000 rows for the API, so their figures
# stay comparable with the targets. They shrink what takes long on a loaded machine.
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("edge_throughput", [], ["--rounds", "3", "--frames", "150"]),
    ("edge_pipeline", [], []),
    ("edge_agent_run", [], ["--seconds", "30"]),
    ("hub_ingest", [], ["--events", "2000", "--rounds", "3"]),
    ("hub_latency", [], ["--seconds", "10"]),
    ("hub_scaleout", [], ["--messages", "1500", "--rounds", "3"]),
    ("hub_api", [], ["--seconds", "5"]),
]
SOAK = ("soak", ["--minutes", "23", "--warmup-minutes", "3"], ["--minutes", "5", "--warmup-minutes", "1"])


def run_benchmark(module: str, arguments: list[str], timeout_s: float) -> tuple[list[Headline], int, float]:
    """Run one benchmark, echoing its output; return its headline lines, exit code and duration."""
    command = [sys.executable, "-m", f"benchmarks.{module}", *arguments]
    print(f"\n=== {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    headlines: list[Headline] = []
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            print(line, end="", flush=True)
            parsed = parse_headline(line)
            if parsed is not None:
                headlines.append(parsed)
        code = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        code = -9
    return headlines, code, time.monotonic() - started


def markdown_table(rows: list[tuple[str, Headline | None, int]]) -> str:
    lines = ["| benchmark | figure | target | measured | result |", "|---|---|---|---|---|"]
    for module, headline, code in rows:
        if headline is None:
            lines.append(f"| {module} | (no figure) | | | failed to run (exit {code}) |")
            continue
        relation = ">=" if headline.metric in ("ratio", "recall", "per_s") else "<="
        result = "pass" if headline.passed else "FAIL"
        lines.append(f"| {module} | {headline.name} {headline.metric} | {relation} {headline.target:g} | "
                     f"{headline.value:.4g} | {result} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names, e.g. hub_ingest,hub_api")
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a loaded machine (see BENCHMARKS)")
    parser.add_argument("--soak", action="store_true", help="also run the 23-minute soak benchmark")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the result table to this file")
    args = parser.parse_args(argv)

    everything = [*BENCHMARKS, SOAK]
    selected = everything if args.soak else list(BENCHMARKS)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        known = [name for name, _, _ in everything]
        if wanted - set(known):
            parser.error(f"unknown benchmark(s) {sorted(wanted - set(known))}; known: {known}")
        selected = [item for item in everything if item[0] in wanted]

    started = datetime.now(UTC)
    rows: list[tuple[str, Headline | None, int]] = []
    for module, full_args, quick_args in selected:
        headlines, code, duration = run_benchmark(module, quick_args if args.quick else full_args, timeout_s=3600)
        print(f"=== {module}: exit {code} after {duration:.0f} s")
        if not headlines:
            rows.append((module, None, code))
        rows.extend((module, headline, code) for headline in headlines)

    table = markdown_table(rows)
    summary = (f"Run of {started:%Y-%m-%d %H:%M} UTC on {machine_summary()}\n"
               f"Command: {' '.join([Path(sys.executable).name, 'benchmarks/run_all.py', *(argv or sys.argv[1:])])}\n\n{table}\n")
    print("\n" + summary)
    if args.markdown:
        args.markdown.write_text(summary, encoding="utf-8")
    ok = all(headline is not None and headline.passed for _, headline, _ in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
