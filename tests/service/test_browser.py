"""End to end in headless Chromium: `sleitp serve` on loopback, the page, an example submitted, the report
read on the page, a screenshot taken. Needs Debian's chromium (`make test` installs it)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian chromium is not installed at /usr/bin/chromium "
                              "(apt-get install chromium; `make test` does it)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "SLEITP_EXAMPLES_DIR": str(ROOT / "examples"),
           "SLEITP_BASE_URL": f"http://127.0.0.1:{port}"}
    log = (tmp_path / "server.log").open("w")
    cmd = [sys.executable, "-m", "sleitp", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sleitp serve did not start: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_page_assesses_an_example_in_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "sleitp-report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(server + "/")
            assert page.title() == "sleitp — assess a patient"
            page.screenshot(path=str(tmp_path / "sleitp-form.png"), full_page=True)
            page.select_option("#example", "01_newly_diagnosed_wet_purpura")
            with page.expect_navigation():
                page.click("#submit")
            # the report, on the page: banner back to the form, the plot, the options with citations
            assert page.locator("#sleitp-banner").is_visible()
            text = page.inner_text("body")
            assert "Assess another patient" in text
            example = json.loads((ROOT / "examples" / "01_newly_diagnosed_wet_purpura.json").read_text())
            assert example["id"] in text  # this patient's report
            assert "IWG" in text and "ivig" in text.lower()  # the response table and the cited options
            plot = page.locator("img[src^='data:image/png']").first
            assert plot.is_visible()
            assert page.evaluate("img => img.naturalWidth", plot.element_handle()) > 100  # the plot decoded
            page.screenshot(path=str(shot), full_page=True)
            assert errors == []  # no CSP violation or broken resource reported by the browser
            # and back to the form
            page.click("#sleitp-banner a")
            assert page.locator("#assess-form").is_visible()
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("SLEITP_SCREENSHOT_DIR")
    if keep:  # for a person to look at
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in (shot, tmp_path / "sleitp-form.png"):
            (Path(keep) / png.name).write_bytes(png.read_bytes())
