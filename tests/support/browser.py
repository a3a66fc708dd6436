"""Debian's Chromium for browser tests (no browser download): where it is and how to start it.

Without the background-networking flags Chromium keeps trying to reach Google's services, and
this machine's closed network refuses those connections many at a time.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
"""Screenshots the tests save (gitignored), to look at."""
