"""The Ansible roles applied for real to throwaway Debian 12 targets.

The broker and the hub run in containers booted with systemd-nspawn, with real
systemd and sshd on a free loopback port. The edge agent is applied through the
chroot connection, because nothing has to start there. Every play runs twice and the second run
must report changed=0 in the JSON callback's stats.
"""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from tests.deploy.runner import (
    DEMO_VAULT_PASSWORD_FILE,
    EXAMPLE_INVENTORY,
    PlayResult,
    ansible_env,
    build_wheelhouse,
    run_playbook,
)
from tests.deploy.targets import (
    ANSIBLE_DIR,
    VENV_BIN,
    BootedTarget,
    booted_target,
    chroot_run,
    free_port,
    remove_rootfs,
    restore_rootfs,
    rootfs_tarball,
)

pytestmark = [pytest.mark.ansible, pytest.mark.timeout(900)]

MODEL_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"


def _require(condition: bool, message: str) -> None:
    """Skip when a tool is missing locally, but fail under CI, where .ci/run installs it."""
    if condition:
        return
    if os.environ.get("CI") == "true" or os.environ.get("METRO_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and CI requires it")
    pytest.skip(message)


def _require_target_tools() -> None:
    _require(os.geteuid() == 0, "building Debian targets needs root (mmdebstrap, chroot, systemd-nspawn)")
    for tool in ("mmdebstrap", "systemd-nspawn", "ssh", "ssh-keygen"):
        _require(shutil.which(tool) is not None, f"{tool} is not installed")
    _require((VENV_BIN / "ansible-playbook").exists(), "ansible is not installed in .venv (pip install the deploy extra)")


@pytest.fixture(scope="module")
def tarball() -> Path:
    _require_target_tools()
    return rootfs_tarball()


@pytest.fixture()
def workdir() -> Iterator[Path]:
    # A short path under /tmp, because tmp_path can be long and paths end up in unit files and logs.
    path = Path(f"/tmp/metro-deploy-{uuid.uuid4().hex[:8]}")
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _vault(relative: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(VENV_BIN / "ansible-vault"), "view", "--vault-password-file", str(DEMO_VAULT_PASSWORD_FILE),
         str(EXAMPLE_INVENTORY / relative)],
        capture_output=True, text=True, env=ansible_env(), check=True,
    )
    return dict(yaml.safe_load(result.stdout))


def _assert_converged_then_idempotent(first: PlayResult, second: PlayResult, hosts: list[str]) -> None:
    assert first.returncode == 0, first.describe()
    assert first.failed_tasks == [], first.describe()
    assert second.returncode == 0, second.describe()
    for host in hosts:
        assert second.stats[host]["failures"] == 0, second.describe()
        assert second.stats[host]["unreachable"] == 0, second.describe()
        assert second.stats[host]["changed"] == 0, second.describe()
    assert second.changed_tasks == [], second.describe()


def test_ansible_lint_production_profile() -> None:
    _require((VENV_BIN / "ansible-lint").exists(), "ansible-lint is not installed in .venv")
    env = ansible_env()
    env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(DEMO_VAULT_PASSWORD_FILE)
    result = subprocess.run(
        [str(VENV_BIN / "ansible-lint"), "--offline", "--profile", "production", "--nocolor"],
        cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_duplicate_camera_ids_fail_the_play(tmp_path: Path) -> None:
    _require((VENV_BIN / "ansible-playbook").exists(), "ansible is not installed in .venv")
    # A twelfth camera added by copying cam-07's settings without changing the id.
    new_camera = {"metro_edge_agent_camera_id": "cam-07", "metro_edge_agent_mqtt_password": "x" * 24}
    result = run_playbook(
        "check-inventory.yml",
        {"all": {"children": {"cameras": {"hosts": {"cam-12": new_camera}}}}},
        {},
        tmp_path,
    )
    assert result.returncode != 0, result.describe()
    failure = " ".join(result.failed_tasks)
    assert "Duplicate camera ids in group 'cameras': ['cam-07']" in failure, result.describe()
    assert "hosts: ['cam-07', 'cam-12']" in failure, result.describe()


def test_unique_camera_ids_pass_the_check(tmp_path: Path) -> None:
    _require((VENV_BIN / "ansible-playbook").exists(), "ansible is not installed in .venv")
    result = run_playbook("check-inventory.yml", {"all": {}}, {}, tmp_path)
    assert result.returncode == 0, result.describe()


# --- broker -------------------------------------------------------------------------


class _Subscriber:
    """A connected MQTT client that collects every message it receives."""

    def __init__(self, port: int, ca_file: Path, username: str, password: str, topic: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connected: queue.Queue[str] = queue.Queue()
        self.client = _client(port, ca_file, username, password)
        self.client.on_message = lambda _c, _u, msg: self.messages.put((msg.topic, msg.payload))
        self.client.on_subscribe = lambda *_args: self.connected.put("subscribed")
        self.client.on_connect = lambda client, _u, _f, reason, _p: (
            client.subscribe(topic, qos=1) if not reason.is_failure else self.connected.put(f"refused: {reason}")
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        state = self.connected.get(timeout=10)
        assert state == "subscribed", f"{username} could not subscribe to {topic}: {state}"

    def received(self, timeout: float) -> list[tuple[str, bytes]]:
        messages = []
        try:
            messages.append(self.messages.get(timeout=timeout))
            while True:
                messages.append(self.messages.get(timeout=0.3))
        except queue.Empty:
            return messages

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _client(port: int, ca_file: Path, username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{username}-test-{uuid.uuid4().hex[:6]}")
    client.tls_set(ca_certs=str(ca_file))
    client.username_pw_set(username, password)
    return client


def _publish(port: int, ca_file: Path, username: str, password: str, topic: str, payload: bytes) -> None:
    """Publish one QoS 1 message and wait for PUBACK; a denied publish is acknowledged too."""
    client = _client(port, ca_file, username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"{username} got no PUBACK for {topic}"
    finally:
        client.disconnect()
        client.loop_stop()


def _connect_reason(port: int, ca_file: Path, username: str, password: str) -> str:
    result: queue.Queue[str] = queue.Queue()
    client = _client(port, ca_file, username, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: result.put(str(reason))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return result.get(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture()
def broker(tarball: Path, workdir: Path) -> Iterator[BootedTarget]:
    with booted_target(tarball, workdir, "broker") as target:
        yield target


def test_broker_play_converges_and_enforces_acls(broker: BootedTarget, workdir: Path) -> None:
    tls_port = free_port()
    pki_dir = workdir / "pki"
    inventory = {"all": {"children": {"broker": {"hosts": {"broker-01": broker.inventory_vars()}}}}}
    extra_vars = {
        "metro_pki_dir": str(pki_dir),
        "metro_mosquitto_tls_port": tls_port,
        "metro_mosquitto_tls_bind_address": "127.0.0.1",
        # The host's own Mosquitto already has 1883, and the container shares its network.
        "metro_mosquitto_local_port": 0,
    }
    first = run_playbook("broker.yml", inventory, extra_vars, workdir)
    second = run_playbook("broker.yml", inventory, extra_vars, workdir)
    _assert_converged_then_idempotent(first, second, ["broker-01", "localhost"])

    active = broker.ssh("systemctl is-active mosquitto")
    assert active.stdout.strip() == "active", broker.ssh("journalctl -u mosquitto --no-pager | tail -30").stdout
    passwd = broker.ssh("cut -d: -f1 /etc/mosquitto/metro.passwd | grep -v '^#' | sort").stdout.split()
    assert passwd == sorted(["metro-hub"] + [f"cam-{n:02d}" for n in range(1, 12)])

    hub_password = _vault("group_vars/all/vault.yml")["vault_metro_hub_mqtt_password"]
    cam07 = _vault("host_vars/cam-07/vault.yml")["vault_metro_edge_agent_mqtt_password"]
    cam08 = _vault("host_vars/cam-08/vault.yml")["vault_metro_edge_agent_mqtt_password"]
    ca_file = pki_dir / "ca.crt"

    hub = _Subscriber(tls_port, ca_file, "metro-hub", hub_password, "metro/v1/#")
    try:
        own = f"own-{uuid.uuid4().hex}".encode()
        _publish(tls_port, ca_file, "cam-07", cam07, "metro/v1/cam-07/event", own)
        assert hub.received(timeout=5) == [("metro/v1/cam-07/event", own)]

        foreign = f"foreign-{uuid.uuid4().hex}".encode()
        _publish(tls_port, ca_file, "cam-07", cam07, "metro/v1/cam-08/event", foreign)
        _publish(tls_port, ca_file, "cam-07", cam07, "metro/v1/cam-07/command", foreign)
        assert hub.received(timeout=2) == []
    finally:
        hub.close()

    # Commands: a camera reads its own command topic and no other camera's.
    cam07_commands = _Subscriber(tls_port, ca_file, "cam-07", cam07, "metro/v1/+/command")
    try:
        command_07 = f"cmd07-{uuid.uuid4().hex}".encode()
        _publish(tls_port, ca_file, "metro-hub", hub_password, "metro/v1/cam-08/command", b"not-for-cam-07")
        _publish(tls_port, ca_file, "metro-hub", hub_password, "metro/v1/cam-07/command", command_07)
        assert cam07_commands.received(timeout=5) == [("metro/v1/cam-07/command", command_07)]
    finally:
        cam07_commands.close()

    assert "Not authorized" in _connect_reason(tls_port, ca_file, "cam-07", cam08)
    assert "Not authorized" in _connect_reason(tls_port, ca_file, "cam-99", cam07)
    assert _connect_reason(tls_port, ca_file, "cam-08", cam08) == "Success"

    journal = broker.ssh("journalctl -u mosquitto --no-pager").stdout
    assert "Denied PUBLISH from cam-07" in journal
    assert "metro/v1/cam-08/event" in journal


# --- edge agent ---------------------------------------------------------------------


# check-config validates the YAML with pydantic only. The heavy edge extra (OpenCV,
# ONNX Runtime, PyAV) is left out to keep the chroot test fast, so the wheelhouse
# contains the base package's dependencies plus numpy instead.
CHECK_CONFIG_REQUIREMENTS = ("numpy",)


@pytest.fixture()
def camera_root(tarball: Path, workdir: Path) -> Iterator[Path]:
    root = workdir / "cam-07-root"
    restore_rootfs(tarball, root, "cam-07")
    yield root
    remove_rootfs(root)


def _self_signed_ca(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(directory / "ca.key"), "-out", str(directory / "ca.crt"),
         "-days", "2", "-subj", "/CN=Metro test CA"],
        capture_output=True, check=True,
    )
    return directory / "ca.crt"


def test_agent_play_converges_and_config_passes_check(
    camera_root: Path, workdir: Path, model_path: Path
) -> None:
    wheelhouse = build_wheelhouse(workdir / "wheelhouse-edge", requirements=CHECK_CONFIG_REQUIREMENTS)
    pki_dir = workdir / "pki"
    _self_signed_ca(pki_dir)
    inventory = {"all": {"children": {"cameras": {"hosts": {"cam-07": {
        "ansible_connection": "community.general.chroot",
        "ansible_host": str(camera_root),
    }}}}}}
    extra_vars = {
        "metro_pki_dir": str(pki_dir),
        "metro_edge_agent_wheelhouse_dir": str(wheelhouse),
        "metro_edge_agent_package_extras": [],
        "metro_edge_agent_extra_requirements": list(CHECK_CONFIG_REQUIREMENTS),
        "metro_edge_agent_model_src": str(model_path),
        # CI targets are x86 Debian without a Pi camera or a hardware watchdog.
        "metro_edge_agent_install_pi_packages": False,
        "metro_edge_agent_hardware_watchdog": False,
    }
    first = run_playbook("cameras.yml", inventory, extra_vars, workdir, limit="cam-07,localhost")
    second = run_playbook("cameras.yml", inventory, extra_vars, workdir, limit="cam-07,localhost")
    _assert_converged_then_idempotent(first, second, ["cam-07"])

    config_file = "/etc/metro-edge/config.yaml"
    check = chroot_run(camera_root, "/opt/metro-edge/venv/bin/metro-edge", "check-config", config_file)
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load((camera_root / config_file.lstrip("/")).read_text())
    assert config["cameras"][0]["camera_id"] == "cam-07"
    assert config["cameras"][0]["name"] == "Simpang Tiga Jl. AH Nasution"
    assert config["mqtt"]["password_file"] == "/etc/metro-edge/mqtt-password"
    assert config["model_spec"] == "/var/lib/metro-edge/models/yolox_nano.yaml"
    assert (camera_root / "var/lib/metro-edge/models/yolox_nano.yaml").is_file()

    # The same check rejects a misspelt key, so the role's validate step can fail.
    broken = camera_root / "tmp/broken.yaml"
    broken.write_text((camera_root / config_file.lstrip("/")).read_text() + "stats_intervall_s: 5\n")
    rejected = chroot_run(camera_root, "/opt/metro-edge/venv/bin/metro-edge", "check-config", "/tmp/broken.yaml")
    assert rejected.returncode != 0
    assert "stats_intervall_s" in rejected.stdout + rejected.stderr

    model = chroot_run(camera_root, "sha256sum", "/var/lib/metro-edge/models/yolox_nano.onnx")
    assert model.stdout.split()[0] == MODEL_SHA256
    groups = chroot_run(camera_root, "id", "-nG", "metro-edge").stdout.split()
    assert "video" in groups
    assert chroot_run(camera_root, "systemctl", "is-enabled", "metro-edge").stdout.strip() == "enabled"

    unit = (camera_root / "etc/systemd/system/metro-edge.service").read_text()
    assert "Type=notify" in unit
    assert "WatchdogSec=60" in unit
    journald = (camera_root / "etc/systemd/journald.conf.d/metro-edge.conf").read_text()
    assert "SystemMaxUse=200M" in journald
    assert chroot_run(camera_root, "systemctl", "is-enabled", "systemd-timesyncd").stdout.strip() == "enabled"

    verify = subprocess.run(
        ["systemd-analyze", "verify", f"--root={camera_root}", "/etc/systemd/system/metro-edge.service"],
        capture_output=True, text=True, check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


# --- hub ----------------------------------------------------------------------------


def _psql(target: BootedTarget, port: object, query: str) -> subprocess.CompletedProcess[str]:
    """Run one fixed query in the hub database as the postgres superuser."""
    return target.ssh(f"runuser -u postgres -- psql -p {port} -d metro_hub -tAc {shlex.quote(query)}")


@pytest.fixture()
def hub_target(tarball: Path, workdir: Path) -> Iterator[BootedTarget]:
    with booted_target(tarball, workdir, "hub") as target:
        yield target


def test_hub_play_migrates_and_creates_admin(hub_target: BootedTarget, workdir: Path) -> None:
    wheelhouse = build_wheelhouse(workdir / "wheelhouse-hub", extras="hub")
    pki_dir = workdir / "pki"
    _self_signed_ca(pki_dir)
    http_port = free_port()
    nginx_port = free_port()
    inventory = {"all": {"children": {"hub": {"hosts": {"hub-01": hub_target.inventory_vars()}}}}}
    extra_vars = {
        "metro_pki_dir": str(pki_dir),
        "metro_hub_wheelhouse_dir": str(wheelhouse),
        # The container shares the host's network, where 5432, 8000 and 80 may be taken.
        "metro_hub_postgresql_port": free_port(),
        "metro_hub_port": http_port,
        "metro_hub_nginx_listen_port": nginx_port,
        # No broker in this test: the hub starts its embedded one on a free port.
        "metro_hub_mqtt_url": "",
        "metro_hub_env_extra": {"METRO_HUB_BROKER_PORT": str(free_port())},
    }
    first = run_playbook("hub.yml", inventory, extra_vars, workdir)
    second = run_playbook("hub.yml", inventory, extra_vars, workdir)
    _assert_converged_then_idempotent(first, second, ["hub-01"])

    admin_password = _vault("group_vars/all/vault.yml")["vault_metro_hub_admin_password"]
    assert admin_password
    port = extra_vars["metro_hub_postgresql_port"]
    users = _psql(hub_target, port, "SELECT username, role FROM users")
    assert users.stdout.split() == ["admin|admin"], users.stdout + users.stderr
    revision = _psql(hub_target, port, "SELECT version_num FROM alembic_version")
    assert revision.returncode == 0, revision.stderr
    assert revision.stdout.strip(), "alembic_version is empty after the migration"
    cameras = _psql(hub_target, port, "SELECT id FROM cameras ORDER BY id")
    assert cameras.stdout.split() == [f"cam-{n:02d}" for n in range(1, 12)], cameras.stdout + cameras.stderr
    assert hub_target.ssh("systemctl is-enabled metro-hub-media-retention.timer").stdout.strip() == "enabled"
    assert hub_target.ssh("systemctl is-active metro-hub").stdout.strip() == "active", (
        hub_target.ssh("journalctl -u metro-hub --no-pager | tail -40").stdout
    )
