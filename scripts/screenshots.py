"""Take screenshots of the main hub pages in Bahasa Indonesia and English, for a visual review.

Usage, with a hub running (for example `make demo`):

    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8080 admin metro-demo

Writes PNG files to test-artifacts/screens/ (ignored by git). Needs Chromium at
/usr/bin/chromium (override with METRO_CHROMIUM).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test-artifacts" / "screens"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def pick_event_with_clip(page: Page, base_url: str) -> str | None:
    """Return the id of a recent event that has a clip, else of any recent event."""
    listing = page.request.get(f"{base_url}/api/v1/events?limit=50").json()
    first: str | None = None
    for item in listing.get("items", []):
        first = first or item["id"]
        detail = page.request.get(f"{base_url}/api/v1/events/{item['id']}").json()
        if any(media["kind"] == "clip" for media in detail.get("media", [])):
            return str(item["id"])
    return first


def main(base_url: str, username: str, password: str) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("METRO_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{base_url}/login")
        page.fill('input[name="username"]', username)
        page.fill('input[name="password"]', password)
        page.click('button[type="submit"]')
        page.wait_for_url(f"{base_url}/")

        cameras = page.request.get(f"{base_url}/api/v1/cameras").json()
        camera_id = cameras[0]["id"] if isinstance(cameras, list) and cameras else None
        event_id = pick_event_with_clip(page, base_url)
        paths = {
            "grid": "/", "events": "/events", "map": "/map", "live": "/live", "lapor": "/lapor",
            "queue": "/operator/laporan", "conferences": "/konferensi", "missing": "/tidak-ada",
        }
        if event_id:
            paths["event"] = f"/events/{event_id}"
        if camera_id:
            paths["camera"] = f"/cameras/{camera_id}"
        complaint = re.search(r'href="(/operator/laporan/\d+)"', page.request.get(f"{base_url}/operator/laporan").text())
        if complaint:
            paths["complaint"] = complaint.group(1)
        shots = []
        for language in ("id", "en"):
            for name, path in paths.items():
                separator = "&" if "?" in path else "?"
                page.goto(f"{base_url}{path}{separator}lang={language}", wait_until="domcontentloaded")
                page.wait_for_timeout(1500)  # let live updates, map tiles and videos settle
                target = OUT / f"{name}-{language}.png"
                page.screenshot(path=str(target), full_page=True)
                shots.append(str(target.relative_to(ROOT)))
        browser.close()
    print(json.dumps(shots, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:4]))
