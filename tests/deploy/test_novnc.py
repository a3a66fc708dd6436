"""The noVNC path for real: a browser shows a VNC screen through the image's own websockify command.

A stand-in for the gateway's screen: Xvfb with a two-colour grid drawn by xsetroot, served by
x11vnc with a password. docker/novnc/start-novnc.sh (what the novnc image runs) proxies it; Debian's
Chromium, driven by Playwright, opens the noVNC page and must show that grid. Debian packages:
xvfb x11vnc novnc websockify chromium x11-xserver-utils. The screenshot goes to
test-artifacts/novnc.png for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

ROOT = Path(__file__).resolve().parents[2]
START_NOVNC = ROOT / "docker" / "novnc" / "start-novnc.sh"
VNC_PASSWORD = "2fa-screen"
# The remote screen: a gold background with a Dodger-blue grid every 16 pixels (xsetroot -mod).
BLUE = (0x1E, 0x90, 0xFF)
GOLD = (0xFF, 0xD7, 0x00)
SCREEN = (640, 400)
START_SECONDS = 10.0
BROWSER_TIMEOUT_MS = 15_000

needs = ["Xvfb", "x11vnc", "xsetroot", "websockify"]
pytestmark = pytest.mark.skipif(
    os.environ.get("CI") is None and any(shutil.which(tool) is None for tool in needs),
    reason="needs Debian's xvfb x11vnc x11-xserver-utils websockify novnc (CI installs them)",
)


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{part:02x}" for part in rgb)


@dataclass
class VncScreen:
    display: str
    vnc_port: int


@pytest.fixture
def vnc_screen(tmp_path: Path) -> Iterator[VncScreen]:
    """Xvfb on a display it picks itself (-displayfd: no race), the grid, x11vnc on it."""
    read_fd, write_fd = os.pipe()
    # -noreset: the screen must not be reset (to black) when xsetroot, its first client, leaves.
    screen = f"{SCREEN[0]}x{SCREEN[1]}x24"
    xvfb_argv = ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", screen, "-noreset"]
    xvfb = subprocess.Popen(
        [*xvfb_argv, "-nolisten", "tcp"],
        pass_fds=[write_fd],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "xvfb.log").open("wb"),
        start_new_session=True,
    )
    os.close(write_fd)
    x11vnc: ManagedProcess | None = None
    try:
        with os.fdopen(read_fd) as numbers:
            display = f":{numbers.readline().strip()}"  # written once the server accepts clients
        assert display != ":", f"Xvfb did not start: {(tmp_path / 'xvfb.log').read_text()}"
        grid = ["-mod", "16", "16", "-fg", hex_colour(BLUE), "-bg", hex_colour(GOLD)]
        subprocess.run(
            ["xsetroot", "-display", display, *grid],
            check=True,
            timeout=START_SECONDS,
        )
        vnc_port = free_port()
        vnc_argv = ["x11vnc", "-display", display, "-rfbport", str(vnc_port)]
        x11vnc = ManagedProcess(
            "x11vnc",
            [*vnc_argv, "-passwd", VNC_PASSWORD, "-localhost", "-forever", "-shared"],
            tmp_path,
        ).start()
        wait_for(lambda: port_open(vnc_port), START_SECONDS, "x11vnc to listen")
        yield VncScreen(display, vnc_port)
    finally:
        if x11vnc is not None:
            x11vnc.stop()
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture
def novnc_port(vnc_screen: VncScreen, tmp_path: Path) -> Iterator[int]:
    """The image's start script, pointed at the stand-in screen instead of ib-gateway:5900."""
    port = free_port()
    env = {"NOVNC_LISTEN": f"127.0.0.1:{port}", "VNC_TARGET": f"127.0.0.1:{vnc_screen.vnc_port}"}
    websockify = ManagedProcess("websockify", [str(START_NOVNC)], tmp_path, env=env).start()
    try:
        wait_for(lambda: port_open(port), START_SECONDS, "websockify to listen")
        yield port
    finally:
        websockify.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install -y chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 600})
        page.set_default_timeout(BROWSER_TIMEOUT_MS)
        yield page
        browser.close()


def novnc_url(port: int, password: str) -> str:
    return (
        f"http://127.0.0.1:{port}/vnc.html?autoconnect=1&password={password}"
        f"&host=127.0.0.1&port={port}"
    )


# Counts canvas pixels of each wanted colour (exact RGB; the VNC stream is lossless here).
COUNT_COLOURS = """
([wanted]) => {
  const canvas = document.querySelector('#noVNC_container canvas');
  if (!canvas || canvas.width === 0) return null;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = wanted.map(() => 0);
  for (let i = 0; i < data.length; i += 4) {
    wanted.forEach(([r, g, b], k) => {
      if (data[i] === r && data[i + 1] === g && data[i + 2] === b) counts[k] += 1;
    });
  }
  return {width: canvas.width, height: canvas.height, counts};
}
"""


def test_browser_shows_the_remote_screen_through_the_images_websockify(
    novnc_port: int, page: Page
) -> None:
    page.goto(novnc_url(novnc_port, VNC_PASSWORD))
    page.wait_for_function("document.documentElement.classList.contains('noVNC_connected')")
    # The first frame arrives just after the connection: wait until both colours are drawn.
    page.wait_for_function(
        f"(() => {{ const r = ({COUNT_COLOURS})([{[list(BLUE), list(GOLD)]}]);"
        " return r !== null && r.counts.every((n) => n > 1000); })()"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "novnc.png"))

    seen = page.evaluate(COUNT_COLOURS, [[list(BLUE), list(GOLD)]])
    assert (seen["width"], seen["height"]) == SCREEN
    blue, gold = seen["counts"]
    pixels = SCREEN[0] * SCREEN[1]
    # The grid covers the whole screen: gold squares (15 x 15 of every 16 x 16), blue lines.
    assert blue + gold > 0.95 * pixels
    assert gold > 0.8 * pixels
    assert blue > 0.1 * pixels


def test_wrong_vnc_password_is_refused(novnc_port: int, page: Page) -> None:
    page.goto(novnc_url(novnc_port, "not-the-password"))
    page.wait_for_function(
        "document.getElementById('noVNC_status').textContent.includes('rejected')"
    )
    connected = page.evaluate("document.documentElement.classList.contains('noVNC_connected')")
    assert connected is False
