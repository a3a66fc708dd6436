"""Chaos and scale-out: the whole system as subprocesses, faults injected, then an audit."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DEFAULT_SEED = 20261123


def chaos_seed() -> int:
    """CHAOS_SEED from the environment (to replay a run's schedule), else the fixed default."""
    value = os.environ.get("CHAOS_SEED", "").strip()
    if not value:
        return DEFAULT_SEED
    if not value.isdigit():
        raise ValueError(f"CHAOS_SEED: {value!r} is not a whole number")
    return int(value)


def write_artifact(name: str, content: dict[str, Any]) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(json.dumps(content, indent=2, default=str) + "\n")
    return path
