"""What the control API and the `--config` file accept, validated with pydantic.

Every model is strict (a weight sent as the string "0.25" is refused, not coerced): the simulator
exists to test clients, so it must never quietly turn bad test input into something plausible.
"""

from __future__ import annotations

import math
from collections import Counter
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

# SPEC section 4 lets consumers accept weights summing up to 1.01 (rounding at the source), so the
# simulator accepts the same and no more unless a test asks for `"unchecked": true`.
ALLOCATION_SUM_TOLERANCE = 0.01

_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class Allocation(BaseModel):
    """One target weight, exactly the element shape of the Zehnlabs allocations API."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    symbol: str
    allocation: float


def check_weights(allocations: list[Allocation]) -> None:
    """Refuse what Zehnlabs never serves: empty or duplicate symbols, weights outside 0..1,
    a sum above 1 (plus rounding slack). Raises ValueError naming the entry."""
    for index, entry in enumerate(allocations):
        if not entry.symbol.strip():
            raise ValueError(f"allocations[{index}]: symbol is empty")
        if not 0.0 <= entry.allocation <= 1.0:
            raise ValueError(
                f"allocations[{index}] ({entry.symbol}): allocation {entry.allocation} "
                "is not between 0 and 1"
            )
    duplicates = sorted(s for s, n in Counter(a.symbol for a in allocations).items() if n > 1)
    if duplicates:
        raise ValueError(f"allocations: duplicate symbols {', '.join(duplicates)}")
    total = math.fsum(a.allocation for a in allocations)
    if total > 1.0 + ALLOCATION_SUM_TOLERANCE:
        raise ValueError(
            f"allocations: weights sum to {total:.6g}, above 1 "
            '(send "unchecked": true to serve it anyway)'
        )


class AllocationsBody(BaseModel):
    """`PUT /control/strategies/{name}/allocations`."""

    model_config = _STRICT

    allocations: list[Allocation]
    # Setting allocations is not a rebalance; `touch` lets a test make it one for the
    # `last_rebalance_on` comparison without publishing an event.
    touch: bool = False
    # Lets broker and processor tests serve negative, duplicate or empty-symbol entries.
    unchecked: bool = False

    @model_validator(mode="after")
    def _weights_are_sane(self) -> Self:
        if not self.unchecked:
            check_weights(self.allocations)
        return self


class StrategyBody(BaseModel):
    """`PUT /control/strategies/{name}`: create, or update the fields given."""

    model_config = _STRICT

    strategy_long_name: str | None = Field(default=None, min_length=1)
    last_rebalance_on: AwareDatetime | None = None
    allocations: list[Allocation] | None = None
    unchecked: bool = False

    @model_validator(mode="after")
    def _weights_are_sane(self) -> Self:
        if self.allocations is not None and not self.unchecked:
            check_weights(self.allocations)
        return self


class SeedStrategy(StrategyBody):
    """One entry of the `--config` file: a strategy body with its name."""

    name: str = Field(min_length=1)


class ConfigFile(BaseModel):
    """The `--config` JSON file: `{"strategies": [...]}`."""

    model_config = _STRICT

    strategies: list[SeedStrategy]

    @model_validator(mode="after")
    def _names_are_unique(self) -> Self:
        names = Counter(s.name for s in self.strategies)
        duplicates = sorted(name for name, n in names.items() if n > 1)
        if duplicates:
            raise ValueError(f"strategies: duplicate names {', '.join(duplicates)}")
        return self


class PublishBody(BaseModel):
    """`POST /control/strategies/{name}/events`: `exec`, an optional `id`, anything else is
    passed through to the emitted message."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)

    # Any non-empty command, known or not: rejecting unknown commands is the broker's job, and
    # tests need to send them.
    exec: str = Field(min_length=1)
    id: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _strategy_comes_from_the_path(self) -> Self:
        if self.model_extra and "strategy" in self.model_extra:
            raise ValueError(
                "strategy: comes from the URL path; use /control/strategies/{name}/raw "
                "to emit a message naming another strategy"
            )
        return self


class FaultMode(StrEnum):
    """How the allocations endpoint misbehaves."""

    HTTP_500 = "http_500"
    TIMEOUT = "timeout"
    MALFORMED_JSON = "malformed_json"
    OVERWEIGHT = "overweight"


class FaultBody(BaseModel):
    """`PUT /control/allocations-fault`."""

    model_config = ConfigDict(extra="forbid")

    # Required, so that clearing is an explicit `null` rather than a forgotten field.
    mode: FaultMode | None
    strategy: str | None = Field(default=None, min_length=1)
    # Fail only the next N requests, then serve normally again (retry tests).
    times: int | None = Field(default=None, ge=1, strict=True)


class AblyBody(BaseModel):
    """`PUT /control/ably`: the Ably endpoint's faults; a field left out keeps its value."""

    model_config = _STRICT

    # Replaces the set: an ATTACH to one of these is answered with ERROR 40160.
    denied_channels: list[Annotated[str, Field(min_length=1)]] | None = None
    # While true, WebSocket connections at / are refused with HTTP 503 before the upgrade.
    refuse_connections: bool | None = None
