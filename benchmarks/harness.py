"""Shared pieces of the benchmarks: statistics, headline lines, private services, RSS.

Every benchmark runs the compared variants interleaved (A B, B A, A B, ...) and reports
medians, because the development machine is shared and its speed drifts by a factor
of two or more within a minute. The last line a benchmark prints is its headline,
``NAME metric=VALUE target=VALUE``, which ``run_all.py`` collects.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("METRO_SHARED_DIR", ROOT.parent / "shared"))
MEDIA = SHARED / "media"
MODELS = SHARED / "models"
POSTGRES_URL = os.environ.get("METRO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# Metrics where a larger value is better; every other metric is a cost (latency, memory).
HIGHER_IS_BETTER = frozenset({"ratio", "recall", "per_s"})
HEADLINE_RE = re.compile(r"^(?P<name>[a-z0-9_]+) (?P<metric>[a-z0-9_]+)=(?P<value>[-0-9.eE+]+|nan) target=(?P<target>[-0-9.eE+]+)$")


@dataclass(frozen=True, slots=True)
class Headline:
    """One measured figure against its target, printed as ``NAME metric=VALUE target=VALUE``."""

    name: str
    metric: str
    value: float
    target: float

    @property
    def passed(self) -> bool:
        if self.value != self.value:  # NaN: nothing was measured
            return False
        if self.metric in HIGHER_IS_BETTER:
            return self.value >= self.target
        return self.value <= self.target

    def line(self) -> str:
        return f"{self.name} {self.metric}={self.value:.4g} target={self.target:g}"


def parse_headline(line: str) -> Headline | None:
    """Parse one headline line, or return None when the line is something else."""
    match = HEADLINE_RE.match(line.strip())
    if match is None:
        return None
    return Headline(match["name"], match["metric"], float(match["value"]), float(match["target"]))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile (0-1) with linear interpolation between ranks."""
    if not values:
        raise ValueError("percentile of an empty sequence; measure at least one value")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} is outside 0-1; use 0.95 for p95")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of an empty sequence; measure at least one value")
    return float(statistics.median(values))


def paired_ratio(results: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Return the median of the per-round ratios ``numerator / denominator``.

    The two variants of one round ran back to back, so their ratio cancels most of the
    machine's drift between rounds. The median then drops the round that was disturbed.
    """
    ratios = [a / b for a, b in zip(results[numerator], results[denominator], strict=True)]
    return median(ratios)


def interleave(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each variant once per round in alternating order and collect their results.

    The order flips every round (A B, B A, A B, ...) so that neither variant always runs
    first after a pause, when the shared machine tends to be less loaded.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    results: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for index in range(rounds):
        order = names if index % 2 == 0 else list(reversed(names))
        for name in order:
            value = variants[name]()
            results[name].append(value)
            print(f"  round {index + 1}/{rounds} {name}: {value:.4g}", flush=True)
    return results


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so a stopped benchmark still drops its database and stops its children.

    A benchmark started in the background ignores SIGINT, so SIGTERM is how it is stopped.
    """

    def _raise(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _raise)


def machine_summary() -> str:
    """Describe the CPU model, core count and RAM of this machine in one line."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {ram_gib:.1f} GiB RAM"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float = 20.0) -> None:
    """Block until ``host:port`` accepts TCP connections, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def rss_kib(pid: int) -> tuple[int, int]:
    """Return (current RSS, peak RSS) of a process in KiB from /proc (Linux only)."""
    current = peak = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return current, peak


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout_s: float = 10.0) -> None:
    """Terminate a child process started by a benchmark and wait for it; kill it if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@contextlib.contextmanager
def private_mosquitto() -> Iterator[Broker]:
    """Start a Mosquitto of its own on a free loopback port, without persistence.

    A private broker keeps the 50,000-message floods of the benchmarks away from the
    tests that other people run on the shared broker at 1883, and keeps their traffic
    out of the measurements. It is the same ``mosquitto`` binary as the shared one.
    """
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="metro-bench-mosquitto-") as folder:
        config = Path(folder) / "mosquitto.conf"
        # max_queued_messages 0 means no limit, so a paused benchmark consumer loses nothing.
        # The in-flight window keeps Mosquitto's default (20), as on the shared broker.
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nlog_dest none\n",
            encoding="ascii",
        )
        process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", port)
            yield Broker("127.0.0.1", port)
        finally:
            stop_process(process)


def parse_broker(value: str) -> Broker:
    """Parse ``HOST:PORT`` given on a benchmark's command line."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"invalid broker {value!r}: use HOST:PORT, for example 127.0.0.1:1883")
    return Broker(host, int(port))


@contextlib.contextmanager
def broker_from_option(value: str | None) -> Iterator[Broker]:
    """Use the broker named by ``--broker``, or start a private Mosquitto when it is absent."""
    if value:
        yield parse_broker(value)
        return
    with private_mosquitto() as broker:
        yield broker


@contextlib.contextmanager
def throwaway_database(prefix: str = "metro_bench") -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its SQLAlchemy URL and drop it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(POSTGRES_URL).set(database="postgres")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_id() -> str:
    """Return a short random suffix for camera ids, client ids and group names of one run."""
    return uuid.uuid4().hex[:8]
