"""The configuration reference names every setting the services read and every variable compose
uses; the Docker pages link to pages and headings that exist, warn about what Compose does to a
`$` in .env, and the security page covers the deployment's networks and secrets."""

from __future__ import annotations

import re

from event_broker.settings import BrokerSettings
from rebalancer_shared.settings import Settings

from tests.deploy.files import COMPOSE, ROOT, load_compose

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


def test_env_example_and_the_docker_guide_say_to_single_quote_secrets() -> None:
    # Compose expands `$NAME` in an unquoted or double-quoted .env value (a password `pa$word`
    # arrives as `pa`), and VNC checks only the first 8 characters of its password.
    for path in (ROOT / ".env.example", ROOT / "docs" / "getting-started-docker.md"):
        text = path.read_text(encoding="utf-8")
        assert "single-quote every secret" in text, path.name
        assert "first 8 characters" in text, path.name
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert 'echo "REDIS_PASSWORD=$(openssl rand -hex 24)" >> .env' in example


def test_security_page_covers_the_deployment() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "## Management API" in text and "## Deployment" in text
    deployment = text.split("## Deployment", 1)[1].split("\n## ", 1)[0]
    model = load_compose(COMPOSE)
    for name in [*model["services"], *model["networks"], *model["volumes"]]:
        assert f"`{name}`" in deployment, f"security.md, Deployment: {name} is not covered"
    for variable in ("IB_PASSWORD", "VNC_PASSWORD", "REDIS_PASSWORD", "MANAGEMENT_API_TOKEN"):
        assert f"`{variable}`" in deployment, variable
