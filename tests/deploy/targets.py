"""Throwaway Debian 12 targets for the Ansible tests: a cached rootfs, chroots and booted containers.

The rootfs is built once with mmdebstrap and kept as a tarball under
``var/cache/metro-deploy`` (or ``$METRO_DEPLOY_CACHE``). Packages the roles install
are downloaded into the tarball's apt cache at build time, so the roles run the real
``apt`` install in the target without waiting on a mirror.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "deploy" / "ansible"
VENV_BIN = ROOT / ".venv" / "bin"
CACHE_DIR = Path(os.environ.get("METRO_DEPLOY_CACHE", ROOT / "var" / "cache" / "metro-deploy"))
MIRROR = "http://deb.debian.org/debian"

# Installed in the rootfs: what Ansible, sshd and a booted systemd need.
BASE_PACKAGES = (
    "python3", "python3-apt", "sudo", "systemd", "systemd-sysv", "dbus",
    "openssh-server", "ca-certificates", "iproute2", "procps",
)
# Only downloaded into the apt cache; the roles install them.
ROLE_PACKAGES = (
    "mosquitto", "python3-venv", "python3-packaging", "systemd-timesyncd",
    "postgresql", "python3-psycopg2", "acl", "nginx",
)
POLICY_RC_D = "#!/bin/sh\n# Test target: package scripts must not start daemons.\nexit 101\n"
SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")


class TargetError(RuntimeError):
    """A target that could not be built, booted or reached."""


def rootfs_tarball() -> Path:
    """Return the cached bookworm rootfs tarball, building it with mmdebstrap when missing."""
    key = hashlib.sha256(json.dumps([BASE_PACKAGES, ROLE_PACKAGES, MIRROR]).encode()).hexdigest()[:12]
    tarball = CACHE_DIR / f"bookworm-{key}.tar"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.is_file():
            return tarball
        partial = tarball.with_suffix(".partial.tar")
        command = [
            "mmdebstrap", "--variant=apt", "--skip=cleanup/apt",
            f"--include={','.join(BASE_PACKAGES)}",
            '--customize-hook=chroot "$1" apt-get update -qq',
            f'--customize-hook=chroot "$1" apt-get install -y -qq --download-only {" ".join(ROLE_PACKAGES)}',
            "bookworm", str(partial), MIRROR,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise TargetError(f"mmdebstrap failed with exit code {result.returncode}:\n{result.stderr[-3000:]}")
        partial.rename(tarball)
        for stale in CACHE_DIR.glob("bookworm-*.tar"):
            if stale != tarball:
                stale.unlink()
        return tarball


def restore_rootfs(tarball: Path, dest: Path, hostname: str) -> None:
    """Unpack the rootfs into ``dest`` and stop package scripts from starting daemons."""
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(dest)], check=True, timeout=300)
    policy = dest / "usr/sbin/policy-rc.d"
    policy.write_text(POLICY_RC_D)
    policy.chmod(0o755)
    (dest / "etc/hostname").write_text(hostname + "\n")
    hosts = dest / "etc/hosts"
    hosts.write_text(f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n")


def remove_rootfs(path: Path) -> None:
    """Delete a restored rootfs, refusing when something is still mounted inside it."""
    mounts = Path("/proc/self/mounts").read_text().split("\n")
    inside = [line for line in mounts if f" {path}/" in line or f" {path} " in line]
    if inside:
        raise TargetError(f"refusing to delete {path}: still mounted: {inside}")
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class BootedTarget:
    """A rootfs booted with systemd-nspawn, reachable over SSH on 127.0.0.1."""

    machine: str
    root: Path
    ssh_port: int
    key_file: Path
    process: subprocess.Popen[bytes]

    def ssh(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``command`` as root in the target and return the finished process."""
        return subprocess.run(
            ["ssh", *SSH_OPTIONS, "-o", "BatchMode=yes", "-i", str(self.key_file),
             "-p", str(self.ssh_port), "root@127.0.0.1", command],
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def inventory_vars(self) -> dict[str, object]:
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key_file),
            "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
        }


@contextlib.contextmanager
def booted_target(tarball: Path, workdir: Path, name: str) -> Iterator[BootedTarget]:
    """Boot a fresh copy of the rootfs with its own systemd; sshd listens on a free loopback port.

    The container shares the host's network (no private network), so every
    service in it must listen on 127.0.0.1 and on a port that is free on the host.
    """
    machine = f"metro-{name}-{uuid.uuid4().hex[:8]}"
    root = workdir / machine
    restore_rootfs(tarball, root, name)
    key_file = workdir / f"{machine}.key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(key_file.with_suffix(".key.pub").read_text())
    port = free_port()
    (root / "etc/ssh/sshd_config.d/metro-test.conf").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n"
    )
    log = (workdir / f"{machine}.log").open("wb")
    # --timezone=off: by default nspawn mounts the host's /etc/localtime read-only,
    # and tzdata's postinst then fails while PostgreSQL is installed.
    process = subprocess.Popen(
        ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--console=passive", "--timezone=off",
         "-D", str(root), "-M", machine],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    target = BootedTarget(machine, root, port, key_file, process)
    try:
        _wait_for_ssh(target, deadline_s=60)
        yield target
    finally:
        _stop(process)
        log.close()
        shutil.rmtree(Path("/run/systemd/nspawn/propagate") / machine, ignore_errors=True)
        remove_rootfs(root)


def _wait_for_ssh(target: BootedTarget, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    last = ""
    while time.monotonic() < end:
        if target.process.poll() is not None:
            raise TargetError(f"systemd-nspawn for {target.machine} exited with {target.process.returncode}")
        result = target.ssh("systemctl is-system-running --wait", timeout=30)
        if result.returncode == 0 or result.stdout.strip() == "degraded":
            return
        last = result.stderr.strip() or result.stdout.strip()
        time.sleep(0.5)
    raise TargetError(f"{target.machine} did not accept SSH on port {target.ssh_port} within {deadline_s} s: {last}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # SIGTERM makes systemd-nspawn shut the container's systemd down cleanly.
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def chroot_run(root: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside the chroot at ``root`` and return the finished process."""
    return subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True, timeout=timeout, check=False)
