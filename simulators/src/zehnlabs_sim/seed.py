"""The strategies the simulator starts with: the `--config` file, or two demo strategies."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from zehnlabs_sim.models import Allocation, ConfigFile, SeedStrategy


def _weights(**weights: float) -> list[Allocation]:
    return [Allocation(symbol=symbol, allocation=w) for symbol, w in weights.items()]


# Realistic tactical-allocation shapes: a diversified ETF blend that keeps 2% cash, and a
# treasury rotation that is fully invested.
DEMO_STRATEGIES: tuple[SeedStrategy, ...] = (
    SeedStrategy(
        name="demo-etf-blend",
        strategy_long_name="Demo ETF Blend (SPY/QQQ/TLT/IEF/GLD)",
        allocations=_weights(SPY=0.30, QQQ=0.20, TLT=0.20, IEF=0.14, GLD=0.14),
    ),
    SeedStrategy(
        name="demo-treasury-rotation",
        strategy_long_name="Demo Treasury Rotation (TLT/IEF/BIL)",
        allocations=_weights(TLT=0.45, IEF=0.35, BIL=0.20),
    ),
)


class ConfigError(Exception):
    """The `--config` file cannot be used; the message names the file, entry and field."""


def load_config(path: Path) -> tuple[SeedStrategy, ...]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        config = ConfigFile.model_validate_json(text)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = _describe_location(error["loc"])
            problems.append(f"{path}: {where}: {error['msg']}")
        raise ConfigError("\n".join(problems)) from None
    return tuple(config.strategies)


def _describe_location(loc: tuple[int | str, ...]) -> str:
    """`strategies[1] field allocations.0.allocation`, not pydantic's bare tuple."""
    if not loc:
        return "file"
    if len(loc) >= 2 and loc[0] == "strategies" and isinstance(loc[1], int):
        fields = ".".join(str(p) for p in loc[2:]) or "entry"
        return f"strategies[{loc[1]}] field {fields}"
    return "field " + ".".join(str(p) for p in loc)
