"""The README's demo command, end to end: it starts, a rebalance completes, Ctrl-C stops
everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]


def processes_working_in(directory: Path) -> list[int]:
    """Pids whose working directory is inside `directory` (the demo starts its children there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == directory or directory in cwd.parents:
            found.append(int(entry.name))
    return found


def test_demo_rebalances_then_ctrl_c_stops_everything(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    output = tmp_path / "demo.out"
    with output.open("w") as out:
        demo = subprocess.Popen(
            [str(ROOT / "scripts" / "demo"), "--workdir", str(workdir), "--management-port", "0"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: "Press Ctrl-C" in output.read_text() or demo.poll() is not None,
                180,
                "the demo to finish its rebalance",
            )
            text = output.read_text()
            assert demo.poll() is None, text
            assert "All 3 accounts rebalanced" in text
            assert "BUY" in text and "SELL" in text and "Filled" in text
            assert "SHY" in text, "the IRA bought the replacement symbol"
            assert processes_working_in(workdir), "the demo's services should be running"

            demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
            assert demo.wait(timeout=60) == 0
        finally:
            if demo.poll() is None:
                demo.kill()
    assert "Stopped everything the demo started." in output.read_text()
    assert processes_working_in(workdir) == []
