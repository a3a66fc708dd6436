"""The configuration reference names every setting the services read and every variable compose
uses; the Docker pages link to pages and headings that exist."""

from __future__ import annotations

import re

from event_broker.settings import BrokerSettings
from rebalancer_shared.settings import Settings

from tests.deploy.files import COMPOSE, ROOT

REFERENCE = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def documented(name: str) -> bool:
    return f"`{name}`" in REFERENCE


def test_every_setting_of_the_services_is_in_the_reference() -> None:
    names = [field.upper() for field in Settings.model_fields]
    names += [f"BROKER_{field.upper()}" for field in BrokerSettings.model_fields]
    assert [name for name in names if not documented(name)] == []


def test_every_variable_docker_compose_reads_is_in_the_reference() -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text(encoding="utf-8")))
    assert used, "docker-compose.yml reads no variable?"
    assert sorted(name for name in used if not documented(name)) == []


def anchors(page: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_docker_pages_link_to_pages_and_headings_that_exist() -> None:
    for page in ("getting-started-docker", "configuration", "operations", "troubleshooting"):
        text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([a-z-]+\.md)(?:#([a-z0-9-]+))?\)", text):
            assert (ROOT / "docs" / target).is_file(), f"{page}.md links to missing {target}"
            if anchor:
                assert anchor in anchors(target), f"{page}.md links to {target}#{anchor}"
