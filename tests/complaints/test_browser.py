"""The citizen form and the operator workflow in a real browser (Debian's chromium)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import launch_chromium
from tests.complaints.conftest import heic_bytes
from tests.conftest import ROOT, free_port
from tests.hub.conftest import TEST_PASSWORD

ARTIFACTS = ROOT / "test-artifacts"
HUB = [sys.executable, "-m", "hub"]


@pytest.fixture()
def hub_server(tmp_path: Path) -> Iterator[str]:
    """A hub on a free port with an operator account; yields its base URL."""
    http_port = free_port()
    env = {
        **os.environ,
        "METRO_HUB_DATA_DIR": str(tmp_path / "hub"),
        "METRO_HUB_BROKER_PORT": str(free_port()),
        "METRO_HUB_MQTT_CLIENT_ID": f"hub-complaints-{uuid.uuid4().hex[:8]}",
    }
    env.pop("METRO_HUB_MQTT_URL", None)
    env.pop("METRO_HUB_DATABASE_URL", None)
    created = subprocess.run(
        [*HUB, "create-user", "verifikator", "--role", "operator"], env=env, input=TEST_PASSWORD + "\n",
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert created.returncode == 0, created.stderr
    log_path = tmp_path / "hub.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*HUB, "serve", "--host", "127.0.0.1", "--port", str(http_port)], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/lapor", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"hub did not become ready:\n{log_path.read_text()[-3000:]}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.browser
def test_citizen_report_to_disposition(hub_server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    photo = tmp_path / "IMG_2041.HEIC"
    photo.write_bytes(heic_bytes())
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        citizen = browser.new_page(locale="id-ID", viewport={"width": 390, "height": 844})
        console_errors: list[str] = []
        citizen.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        failed: list[str] = []
        citizen.on("response", lambda response: failed.append(f"{response.status} {response.url}") if response.status >= 400 else None)

        citizen.goto(f"{hub_server}/lapor")
        citizen.select_option("#category", "drainase")
        citizen.set_input_files("#photos", str(photo))
        # The position comes from the HEIC's EXIF GPS, read by the server.
        expect(citizen.locator("#lat")).to_have_value(re.compile(r"^-5\.113"), timeout=10_000)
        citizen.fill("#description", "Got tersumbat sampah, air meluap ke jalan saat hujan 🌧️")
        citizen.fill("input[name=contact_name]", "Rahmat")
        citizen.check("input[name=anonymous]")
        citizen.click("#submit-report")
        code_node = citizen.locator("#tracking-code")
        expect(code_node).to_have_text(re.compile(r"^LY-[0-9A-Z]{4}-[0-9A-Z]{4}$"), timeout=15_000)
        tracking_code = code_node.inner_text()
        citizen.screenshot(path=str(ARTIFACTS / "complaints-citizen-submitted.png"), full_page=True)

        operator = browser.new_page(locale="id-ID")
        operator.goto(f"{hub_server}/login?next=/operator/laporan")
        operator.fill("input[name=username]", "verifikator")
        operator.fill("input[name=password]", TEST_PASSWORD)
        operator.click("button[type=submit]")
        row = operator.locator("table.queue tbody tr").first
        expect(row).to_contain_text("Drainase Tersumbat")
        row.locator("a").first.click()
        expect(operator.locator("#status-label")).to_have_text("Belum Terverifikasi")
        expect(operator.locator(".photos img")).to_have_count(1)
        operator.locator('form[data-action="verify"] button').click()
        expect(operator.locator("#status-label")).to_have_text("Terverifikasi")
        dispose = operator.locator('form[data-action="dispose"]')
        dispose.locator("select[name=opd_code]").select_option("putr")
        dispose.locator("textarea[name=note]").fill("Mohon dibersihkan minggu ini")
        dispose.locator("button").click()
        expect(operator.locator("#status-label")).to_have_text("Didisposisikan")
        operator.screenshot(path=str(ARTIFACTS / "complaints-operator-detail.png"), full_page=True)

        citizen.goto(f"{hub_server}/lapor/status?code={tracking_code}")
        expect(citizen.locator("#status-label")).to_have_text("Didisposisikan")
        expect(citizen.locator("#status-card")).to_contain_text("Dinas Pekerjaan Umum dan Penataan Ruang")
        expect(citizen.locator("#status-card")).to_contain_text("Mohon dibersihkan minggu ini")
        photo_ok = citizen.locator("#status-card .photos img").first
        citizen.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=photo_ok.element_handle())
        citizen.screenshot(path=str(ARTIFACTS / "complaints-citizen-status.png"), full_page=True)
        browser.close()
    assert failed == []
    # Playwright does not report the browser's own /favicon.ico request, whose 404 still reaches the console.
    assert [e for e in console_errors if "status of 404" not in e] == []
