"""`accounts.yaml` and `replacement-sets.yaml`: models, validation and mode filtering.

A bad file stops the service at start with one ConfigError whose lines each name the file, the
entry, the field and the value: every problem of both files at once (fields, duplicates, unknown
sets, YAML syntax), accounts.yaml first, each file's in entry order. Money-relevant fields
(`type`, `cash_reserve_percent`) have no defaults, and unknown fields (and a field given twice)
are refused, so a typo can never silently change what is traded. `load_configuration` checks the
environment and both files in one run.

accounts.yaml (a list; `accounts:` above it is accepted too)::

    - account_id: DU1234567
      type: paper              # paper | live; only accounts of TRADING_MODE are used
      enabled: true
      strategy_name: etf-blend-200-35
      cash_reserve_percent: 1.0
      replacement_set: ira     # optional, a name from replacement-sets.yaml

replacement-sets.yaml (set name -> list of rules)::

    ira:
      - {source: SPY, target: VOO, scale: 1.0}
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from rebalancer_shared.errors import ConfigError, ConfigProblems
from rebalancer_shared.events import ACCOUNT_ID_PATTERN, AccountSettings, ReplacementRule
from rebalancer_shared.settings import Settings, TradingMode, check_settings

SYMBOL_MAX_LENGTH = 12


class AccountConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    account_id: str
    type: TradingMode
    enabled: bool
    strategy_name: str
    cash_reserve_percent: float
    replacement_set: str | None = None

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id(cls, value: object) -> str:
        text = str(value).strip() if value is not None else ""
        if not ACCOUNT_ID_PATTERN.fullmatch(text):
            raise PydanticCustomError(
                "account_id", "is not an IB account id (like U1234567 or DU1234567)"
            )
        return text

    @field_validator("type", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        if value not in {mode.value for mode in TradingMode}:
            raise PydanticCustomError("mode", "is not one of paper, live")
        return value

    @field_validator("enabled", mode="before")
    @classmethod
    def _enabled(cls, value: object) -> object:
        # YAML gives real booleans; refuse "yes"/"1" strings that pydantic would coerce.
        if not isinstance(value, bool):
            raise PydanticCustomError("bool", "is not true or false")
        return value

    @field_validator("strategy_name", mode="before")
    @classmethod
    def _strategy(cls, value: object) -> object:
        if not isinstance(value, str) or not value.strip():
            raise PydanticCustomError("strategy", "is not a strategy name")
        return value.strip()

    @field_validator("cash_reserve_percent", mode="before")
    @classmethod
    def _reserve(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError("number", "is not a number")
        if not 0 <= value <= 100:
            raise PydanticCustomError("range", "is not between 0 and 100")
        return value

    def settings(self, sets: Mapping[str, Sequence[ReplacementRule]]) -> AccountSettings:
        """What an event carries for this account, with its replacement rules resolved."""
        rules = tuple(sets.get(self.replacement_set, ())) if self.replacement_set else ()
        return AccountSettings(
            account_id=self.account_id,
            type=self.type.value,
            strategy_name=self.strategy_name,
            cash_reserve_percent=self.cash_reserve_percent,
            replacement_set=self.replacement_set,
            replacements=rules,
        )


class ReplacementConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    target: str
    scale: float

    @field_validator("source", "target", mode="before")
    @classmethod
    def _symbol(cls, value: object) -> str:
        text = value.strip().upper() if isinstance(value, str) else ""
        if not text or len(text) > SYMBOL_MAX_LENGTH or " " in text:
            raise PydanticCustomError("symbol", "is not a ticker symbol")
        return text

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError("number", "is not a number")
        if not 0 < value <= 10:
            raise PydanticCustomError("range", "is not above 0 and at most 10")
        return value

    @model_validator(mode="after")
    def _different(self) -> ReplacementConfig:
        if self.source == self.target:
            raise PydanticCustomError("same", "source and target are the same symbol")
        return self

    def rule(self) -> ReplacementRule:
        return ReplacementRule(source=self.source, target=self.target, scale=self.scale)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader refusing a key given twice in one mapping, which YAML resolves silently (the
    last wins): a second `cash_reserve_percent` must not quietly replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Hashable, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden: that is what it is for
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # the constructor below names it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key} is given twice (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path, label: str) -> Any:
    """The file's data, or ConfigError with one line naming the file (and line and column)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found at {path}") from None
    except UnicodeDecodeError as error:
        byte = error.object[error.start]
        raise ConfigError(
            f"{label}: is not UTF-8 text (byte 0x{byte:02x} at position {error.start}): "
            "save it as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{label}: cannot be read at {path}: {error.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as error:
        raise ConfigError(_yaml_problem(label, error)) from None


def _yaml_problem(label: str, error: yaml.YAMLError) -> str:
    """`accounts.yaml: line 4, column 7: mapping values are not allowed here`."""
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f"{label}: not valid YAML: " + " ".join(str(error).split())
    line = f"{label}: {_position(error.problem_mark)}: {error.problem}"
    if error.context:
        mark = error.context_mark
        line += f" ({error.context}" + (f" at {_position(mark)})" if mark else ")")
    return line


def _position(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _describe(error: ValidationError, where: str) -> list[str]:
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(entry)"
        if problem["type"] == "missing":
            lines.append(f"{where}: field {field}: missing (required, no default)")
        elif problem["type"] == "extra_forbidden":
            lines.append(f"{where}: field {field}: unknown field (check the spelling)")
        else:
            lines.append(f"{where}: field {field}: {problem.get('input')!r} {problem['msg']}")
    return lines


Sets = dict[str, tuple[ReplacementRule, ...]]


def parse_replacement_sets(data: Any, label: str) -> Sets:
    sets, errors = _check_replacement_sets(data, label)
    if errors or sets is None:
        raise ConfigError("\n".join(errors))
    return sets


def _check_replacement_sets(data: Any, label: str) -> tuple[Sets | None, list[str]]:
    """The sets and the problems of their rules; None for sets when the names cannot be told."""
    if data is None:
        return {}, []
    if isinstance(data, dict) and set(data) == {"replacement_sets"}:
        data = data["replacement_sets"] or {}
    if not isinstance(data, dict):
        return None, [f"{label}: expected a mapping of set name to a list of rules"]
    sets: Sets = {}
    errors: list[str] = []
    for name, rules in data.items():
        sets[str(name)] = ()  # defined even while its rules are wrong: no "not defined" besides
        if not isinstance(rules, list):
            errors.append(f"{label}: set {name}: expected a list of {{source, target, scale}}")
            continue
        parsed: list[ReplacementRule] = []
        sources: set[str] = set()
        for index, raw in enumerate(rules, start=1):
            where = f"{label}: set {name} rule {index}"
            if not isinstance(raw, dict):
                errors.append(f"{where}: expected a mapping with source, target, scale")
                continue
            try:
                rule = ReplacementConfig.model_validate(raw).rule()
            except ValidationError as error:
                errors.extend(_describe(error, where))
                continue
            if rule.source in sources:
                errors.append(f"{where}: field source: {rule.source!r} is replaced twice")
                continue
            sources.add(rule.source)
            parsed.append(rule)
        sets[str(name)] = tuple(parsed)
    return sets, errors


def parse_accounts(
    data: Any, label: str, replacement_sets: Mapping[str, object], sets_label: str
) -> list[AccountConfig]:
    accounts, errors = _check_accounts(data, label, set(replacement_sets), sets_label)
    if errors:
        raise ConfigError("\n".join(errors))
    return accounts


def _check_accounts(
    data: Any, label: str, known_sets: Collection[str] | None, sets_label: str
) -> tuple[list[AccountConfig], list[str]]:
    """The valid accounts and every problem of every entry: its fields, whether its account_id
    came before, whether its replacement_set exists (not judged when `known_sets` is None: the
    sets file could not be read)."""
    if isinstance(data, dict) and set(data) == {"accounts"}:
        data = data["accounts"]
    if not isinstance(data, list):
        return [], [f"{label}: expected a list of accounts"]
    accounts: list[AccountConfig] = []
    seen: dict[str, int] = {}
    errors: list[str] = []
    for index, raw in enumerate(data, start=1):
        name = raw.get("account_id") if isinstance(raw, dict) else None
        where = f"{label}: entry {index}" + (f" (account {name})" if name else "")
        if not isinstance(raw, dict):
            errors.append(f"{where}: expected a mapping of account fields")
            continue
        entry_errors: list[str] = []
        account: AccountConfig | None = None
        try:
            account = AccountConfig.model_validate(raw)
        except ValidationError as error:
            entry_errors.extend(_describe(error, where))
        # Judged on the raw values, so a broken entry still shows all of its problems.
        account_id = str(name).strip()
        if ACCOUNT_ID_PATTERN.fullmatch(account_id):
            if account_id in seen:
                entry_errors.append(
                    f"{where}: field account_id: {account_id!r} is a duplicate "
                    f"(also entry {seen[account_id]})"
                )
            else:
                seen[account_id] = index
        set_name = raw.get("replacement_set")
        if (
            isinstance(set_name, str)
            and set_name
            and known_sets is not None
            and set_name not in known_sets
        ):
            defined = ", ".join(sorted(known_sets)) or "none"
            entry_errors.append(
                f"{where}: field replacement_set: {set_name!r} is not defined "
                f"in {sets_label} (defined: {defined})"
            )
        if entry_errors:
            errors.extend(entry_errors)
        elif account is not None:
            accounts.append(account)
    return accounts, errors


class AccountsConfig(BaseModel):
    """Both files, validated together (an account may name a replacement set)."""

    model_config = ConfigDict(frozen=True)

    accounts: tuple[AccountConfig, ...]
    replacement_sets: dict[str, tuple[ReplacementRule, ...]]

    def active(self, mode: TradingMode) -> list[AccountConfig]:
        """Enabled accounts whose type is the trading mode: the only ones ever traded."""
        return [account for account in self.accounts if account.enabled and account.type == mode]

    def strategies(self, mode: TradingMode) -> list[str]:
        return sorted({account.strategy_name for account in self.active(mode)})

    def for_strategy(self, strategy: str, mode: TradingMode) -> list[AccountConfig]:
        return [account for account in self.active(mode) if account.strategy_name == strategy]

    def find(self, account_id: str) -> AccountConfig | None:
        return next((a for a in self.accounts if a.account_id == account_id), None)

    def settings_for(self, account: AccountConfig) -> AccountSettings:
        return account.settings(self.replacement_sets)


def load_accounts(accounts_file: Path, replacement_sets_file: Path) -> AccountsConfig:
    """Read and validate both files: one ConfigError names every problem of both (accounts.yaml
    first). A missing replacement-sets file means no sets."""
    sets_label = replacement_sets_file.name
    sets: Sets | None = {}
    sets_errors: list[str] = []
    if replacement_sets_file.exists():
        try:
            sets, sets_errors = _check_replacement_sets(
                _read_yaml(replacement_sets_file, sets_label), sets_label
            )
        except ConfigError as error:
            sets, sets_errors = None, error.problems
    label = accounts_file.name
    try:
        accounts, errors = _check_accounts(
            _read_yaml(accounts_file, label), label, sets, sets_label
        )
    except ConfigError as error:
        accounts, errors = [], error.problems
    if errors or sets_errors or sets is None:
        raise ConfigError("\n".join(errors + sets_errors))
    return AccountsConfig(accounts=tuple(accounts), replacement_sets=sets)


def load_configuration(
    *,
    required: Sequence[str] = (),
    needed_by: str = "this service",
    checks: Sequence[Callable[[Settings], object]] = (),
    **overrides: object,
) -> tuple[Settings, AccountsConfig]:
    """The environment and both files, checked in one run: one ConfigError lists every problem,
    the environment's first (with those of `checks`, a service's own checks of its settings,
    each raising ConfigError), then the files'. A variable the service cannot run without is
    named in `required` (like `ALLOCATIONS_API_KEY`), `needed_by` says who needs it."""
    problems = ConfigProblems()
    settings = check_settings(problems, required=required, needed_by=needed_by, **overrides)
    for check in checks:
        with problems.collect():
            check(settings)
    accounts = None
    with problems.collect():
        accounts = load_accounts(settings.accounts_file, settings.replacement_sets_file)
    problems.raise_if_any()
    assert accounts is not None  # no problem, so it was loaded
    return settings, accounts
