"""Errors that stop a service at start with one readable message."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

EXIT_CONFIG_ERROR = 2
"""The exit status of every service stopped by its configuration (Docker restarts it; fix first)."""


class ConfigError(Exception):
    """Invalid configuration: the message names the file (or variable), the entry and the field.

    One problem per line: several checks' errors are joined into one report (`ConfigProblems`).
    """

    @property
    def problems(self) -> list[str]:
        return str(self).splitlines()


class ConfigProblems:
    """The problems of several checks, raised together, so one run names every mistake."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run one check: a ConfigError it raises is kept for the report instead."""
        try:
            yield
        except ConfigError as error:
            self.add(*error.problems)

    def raise_if_any(self) -> None:
        if self.lines:
            raise ConfigError("\n".join(self.lines))


def exit_for_invalid_configuration(service: str, error: ConfigError) -> NoReturn:
    """`<service>: invalid configuration` and each problem on stderr (no traceback); exit 2."""
    print(f"{service}: invalid configuration", *error.problems, sep="\n", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG_ERROR)
