"""Schemathesis against the service's own OpenAPI schema: no 5xx, every answer as documented.

The app runs in-process (schemathesis's ASGI transport, with the app's lifespan opening its own
Redis client on the private redis-server). Valid and invalid requests are generated for every
operation; the checks are the ones that hold whatever the queue holds: no server error, and
status code, content type, headers and body as the schema says. Negative data must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from management_service.app import create_app
from rebalancer_shared.config import AccountsConfig
from rebalancer_shared.settings import Settings, load_settings
from schemathesis import BaseSchema, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.management.helpers import TOKEN
from tests.support.profiles import examples

EXAMPLES_PER_OPERATION = 40
SCHEMATHESIS_HOST = "testserver"
"""The Host schemathesis's ASGI client sends: allowed as a configured name would be."""

CONFORMANCE: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

FUZZ_SETTINGS = hypothesis.settings(
    max_examples=examples(EXAMPLES_PER_OPERATION),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


def _cases(token: str = "") -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) of every documented operation, read from the app itself.

    Negative data only where an operation takes input (parameters or a body): without a token the
    state changes take a header the schema declares, with one they do not.
    """
    app = create_app(
        load_settings(_env_file=None, management_api_token=token),
        accounts_config=AccountsConfig(accounts=(), replacement_sets={}),
    )
    paths: dict[str, dict[str, dict[str, object]]] = app.openapi()["paths"]
    cases = []
    for path, item in paths.items():
        for method, operation in item.items():
            cases.append((method.upper(), path, GenerationMode.POSITIVE))
            if "parameters" in operation or "requestBody" in operation:
                cases.append((method.upper(), path, GenerationMode.NEGATIVE))
    return cases


OPEN_CASES = _cases()
GUARDED_CASES = _cases(TOKEN)


def answering(settings: Settings) -> Settings:
    return settings.model_copy(update={"management_allowed_hosts": SCHEMATHESIS_HOST})


@pytest.fixture
def open_schema(settings: Settings) -> Iterator[BaseSchema]:
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(answering(settings)))
    shutdown_lifespans()


@pytest.fixture
def guarded_schema(token_settings: Settings) -> Iterator[BaseSchema]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(answering(token_settings)))
    # The test sends the right token itself; generated (or removed) ones would hide it.
    schema.config.generation.update(with_security_parameters=False)
    yield schema
    shutdown_lifespans()


def fuzz(
    schema: BaseSchema,
    method: str,
    path: str,
    mode: GenerationMode,
    checks: list[CheckFunction],
    headers: dict[str, str] | None = None,
) -> None:
    operation = schema[path][method]

    @FUZZ_SETTINGS
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    run()


@pytest.mark.parametrize(("method", "path", "mode"), OPEN_CASES)
def test_api_without_token_conforms_to_its_schema(
    open_schema: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    fuzz(open_schema, method, path, mode, CONFORMANCE)


@pytest.mark.parametrize(("method", "path", "mode"), GUARDED_CASES)
def test_api_with_token_conforms_to_its_schema(
    guarded_schema: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    fuzz(guarded_schema, method, path, mode, [*CONFORMANCE, ignored_auth], headers=auth)
