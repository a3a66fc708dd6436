"""Reading the deployment files the way Docker and Compose read them (no Docker engine here).

`Dockerfile` parses instructions (continuation lines joined, comments dropped) into stages;
`load_compose` reads a compose file (YAML merge keys resolved) and `interpolate` substitutes
`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}` and `${VAR?message}` as
Compose does, raising `MissingVariable` where Compose would stop.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = ROOT / "docker-compose.yml"
DEMO_COMPOSE = ROOT / "docker-compose.demo.yml"
PYTHON_IMAGES = {
    # Dockerfile -> the workspace member it installs
    "event-broker.Dockerfile": "event-broker",
    "event-processor.Dockerfile": "event-processor",
    "management-service.Dockerfile": "management-service",
    "ib-gateway-sim.Dockerfile": "rebalancer-simulators",
    "zehnlabs-sim.Dockerfile": "rebalancer-simulators",
}
NOVNC_DOCKERFILE = DOCKER / "novnc" / "Dockerfile"
GATEWAY_DOCKERFILE = DOCKER / "ib-gateway" / "Dockerfile"


def all_dockerfiles() -> list[Path]:
    return [*(DOCKER / name for name in PYTHON_IMAGES), NOVNC_DOCKERFILE, GATEWAY_DOCKERFILE]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON array of CMD/ENTRYPOINT/HEALTHCHECK CMD, or the shell words of the rest."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = text[text.index("CMD") + len("CMD") :].strip()
        if text.startswith("["):
            return [str(part) for part in yaml.safe_load(text)]
        return shlex.split(text)


@dataclass
class Stage:
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


class Dockerfile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.instructions = parse_instructions(path.read_text(encoding="utf-8"))
        self.stages: list[Stage] = []
        for item in self.instructions:
            if item.keyword == "FROM":
                self.stages.append(Stage(base=item.arguments.split()[0]))
            elif self.stages:
                self.stages[-1].instructions.append(item)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def env(self, stage: Stage) -> dict[str, str]:
        values: dict[str, str] = {}
        for item in stage.all("ENV"):
            for word in shlex.split(item.arguments):
                name, _, value = word.partition("=")
                values[name] = value
        return values


def parse_instructions(text: str) -> list[Instruction]:
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    instructions = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def load_compose(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


class MissingVariable(Exception):
    pass


VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """A compose value with every variable substituted from `env` (recursively)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        current = env.get(name)
        unusable = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":?", "?") and unusable:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-") and unusable:
            return arg
        return current or ""

    return VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def referenced_variables(value: Any) -> set[str]:
    """Names used as ${NAME...} anywhere in a compose value (`$$` is a literal dollar)."""
    if isinstance(value, dict):
        return set().union(*(referenced_variables(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(referenced_variables(item) for item in value))
    if isinstance(value, str):
        return {m["name"] for m in VARIABLE.finditer(value.replace("$$", ""))}
    return set()


def required_variables(value: Any) -> set[str]:
    """Names used as ${NAME:?...} or ${NAME?...} anywhere in a compose value."""
    if isinstance(value, dict):
        return set().union(*(required_variables(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(required_variables(item) for item in value))
    if isinstance(value, str):
        return {m["name"] for m in VARIABLE.finditer(value) if m["op"] in (":?", "?")}
    return set()
