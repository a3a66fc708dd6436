"""Every Dockerfile: hadolint clean, dependencies from uv.lock only, a non-root user, a health
check, no secret baked in; and each Python image's build stage, replayed here as plain processes,
installs its entry point into the image's virtual environment."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from rebalancer_local.processes import uv_executable

from tests.deploy.files import (
    DOCKER,
    GATEWAY_DOCKERFILE,
    NOVNC_DOCKERFILE,
    PYTHON_IMAGES,
    ROOT,
    Dockerfile,
    all_dockerfiles,
    parse_instructions,
)

SECRET_WORDS = ("PASSWORD", "KEY", "TOKEN", "SECRET")
MEMBER_FOLDERS = {
    "event-broker": "event-broker",
    "event-processor": "event-processor",
    "management-service": "management-service",
    "rebalancer-simulators": "simulators",
}
ALL = [pytest.param(path, id=path.relative_to(DOCKER).as_posix()) for path in all_dockerfiles()]
PYTHON = [pytest.param(DOCKER / name, id=name) for name in PYTHON_IMAGES]


def venv_tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def run_commands(dockerfile: Dockerfile) -> list[str]:
    return [item.arguments for stage in dockerfile.stages for item in stage.all("RUN")]


def entrypoint(dockerfile: Dockerfile) -> list[str]:
    found = dockerfile.final.last("ENTRYPOINT")
    assert found is not None, f"{dockerfile.path.name}: no ENTRYPOINT"
    return found.exec_form()


@pytest.mark.parametrize("path", ALL)
def test_dockerfile_passes_hadolint(path: Path) -> None:
    result = subprocess.run(
        [venv_tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ALL)
def test_image_runs_as_a_non_root_user(path: Path) -> None:
    user = Dockerfile(path).final.last("USER")
    assert user is not None, f"{path.name}: the final stage sets no USER"
    assert user.arguments.split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("path", ALL)
def test_image_has_a_health_check(path: Path) -> None:
    check = Dockerfile(path).final.last("HEALTHCHECK")
    assert check is not None and "CMD" in check.arguments, f"{path.name}: no HEALTHCHECK"
    assert "--interval=" in check.arguments and "--timeout=" in check.arguments


@pytest.mark.parametrize("path", ALL)
def test_image_bakes_in_no_secret(path: Path) -> None:
    dockerfile = Dockerfile(path)
    for item in dockerfile.instructions:
        if item.keyword in {"ENV", "ARG", "LABEL"}:
            names = [word.partition("=")[0] for word in shlex.split(item.arguments)]
            for name in names:
                assert not any(word in name.upper() for word in SECRET_WORDS), (
                    f"{path.name}: {item.keyword} {name} would put a secret into the image"
                )
        if item.keyword in {"COPY", "ADD"}:
            assert ".env" not in item.arguments.split(), f"{path.name} copies .env"


@pytest.mark.parametrize("path", PYTHON)
def test_python_image_installs_its_member_from_the_lock_only(path: Path) -> None:
    dockerfile = Dockerfile(path)
    member = PYTHON_IMAGES[path.name]
    syncs = [command for command in run_commands(dockerfile) if command.startswith("uv sync")]
    assert len(syncs) == 2, "third-party dependencies first, then the workspace members"
    for command in syncs:
        words = command.split()
        assert {"--frozen", "--no-dev"} <= set(words), command
        assert words[words.index("--package") + 1] == member
    assert "--no-editable" in syncs[-1], "the venv must not point back at the build's sources"
    for command in run_commands(dockerfile):
        if command.startswith("pip install"):
            assert "uv==" in command, f"only a pinned uv is installed with pip: {command}"
        assert "uv lock" not in command and "uv pip" not in command, command


def test_python_images_share_one_base_image_and_one_uv_version() -> None:
    bases = set()
    uv_versions = set()
    for name in PYTHON_IMAGES:
        dockerfile = Dockerfile(DOCKER / name)
        bases |= {stage.base for stage in dockerfile.stages}
        uv_versions |= {
            word
            for command in run_commands(dockerfile)
            for word in command.split()
            if "uv==" in word
        }
    assert len(bases) == 1 and len(uv_versions) == 1, (bases, uv_versions)
    (base,) = bases
    assert base.startswith("python:3.11.") and "-slim" in base, base


@pytest.mark.parametrize("path", ALL)
def test_base_images_are_pinned_to_a_version(path: Path) -> None:
    for stage in Dockerfile(path).stages:
        _, _, tag = stage.base.partition(":")
        assert tag and any(char.isdigit() for char in tag), f"{path.name}: {stage.base} not pinned"


@pytest.mark.parametrize("path", PYTHON)
def test_entrypoint_is_a_console_script_of_the_installed_member(path: Path) -> None:
    member = PYTHON_IMAGES[path.name]
    manifest = tomllib.loads((ROOT / MEMBER_FOLDERS[member] / "pyproject.toml").read_text())
    assert entrypoint(Dockerfile(path))[0] in manifest["project"]["scripts"]


def test_novnc_image_runs_the_start_script_the_browser_test_runs() -> None:
    dockerfile = Dockerfile(NOVNC_DOCKERFILE)
    copies = [item.arguments.split() for item in dockerfile.final.all("COPY")]
    assert ["start-novnc.sh", "/usr/local/bin/start-novnc"] in copies
    assert entrypoint(dockerfile) == ["/usr/local/bin/start-novnc"]
    script = (NOVNC_DOCKERFILE.parent / "start-novnc.sh").read_text()
    assert "exec websockify --web" in script
    assert os.access(NOVNC_DOCKERFILE.parent / "start-novnc.sh", os.X_OK)


def test_novnc_image_pins_its_base_image_and_no_debian_package_version() -> None:
    # Debian replaces a package version with the next security update, and an image that asks
    # for the old one stops building. The base image is pinned (tag and digest); the packages
    # are what that Debian release has when the image is built.
    dockerfile = Dockerfile(NOVNC_DOCKERFILE)
    for stage in dockerfile.stages:
        assert re.fullmatch(r"debian:\d+\.\d+-slim@sha256:[0-9a-f]{64}", stage.base), stage.base
    for command in run_commands(dockerfile):
        for step in re.split(r"&&|;", command):
            words = step.split()
            if words[:1] == ["apt-get"] and {"install", "download"} & set(words):
                pinned = [word for word in words if "=" in word and not word.startswith("-")]
                assert pinned == [], f"pinned Debian package versions: {pinned}"


# gnzsnz/ib-gateway-docker#349: x11vnc could start before Xvfb's socket existed, leaving the
# gateway's screen (and so the 2FA) unreachable; #350 made the start script wait for the socket.
# The first stable image with it is 10.37.1p (10.37.1n and 10.37.1o start x11vnc at once).
FIRST_STABLE_WAITING_FOR_XVFB = "10.37.1p"


def gateway_version(tag: str) -> tuple[int, int, int, str]:
    found = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)([a-z])", tag)
    assert found is not None, f"{tag} is not an IB Gateway version like 10.37.1p"
    return int(found[1]), int(found[2]), int(found[3]), found[4]


def test_gateway_image_is_a_release_that_starts_vnc_after_xvfb() -> None:
    base = Dockerfile(GATEWAY_DOCKERFILE).final.base
    image, _, tag = base.partition("@")[0].rpartition(":")
    assert image == "ghcr.io/gnzsnz/ib-gateway"
    assert gateway_version(tag) >= gateway_version(FIRST_STABLE_WAITING_FOR_XVFB), base


def dockerignored(relative: str) -> bool:
    """Whether the root .dockerignore keeps a path out of the Python images' build context."""
    ignored = False
    for pattern in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").replace("**/", "")
        parts = relative.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(
            fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(parts[-1], pattern) for p in prefixes
        ):
            ignored = not negate
    return ignored


@pytest.mark.parametrize("path", PYTHON)
def test_files_the_image_copies_are_in_the_build_context(path: Path) -> None:
    for stage in Dockerfile(path).stages:
        for item in stage.all("COPY"):
            if item.arguments.startswith("--from="):
                continue
            *sources, _target = item.arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{path.name}: COPY {source}: no such file"
                assert not dockerignored(source), f"{path.name}: {source} is in .dockerignore"


def test_secrets_and_your_accounts_stay_out_of_the_build_context() -> None:
    for private in (".env", ".env.local", "accounts.yaml", ".git/config", ".venv/bin/python"):
        assert dockerignored(private), private
    assert not dockerignored("uv.lock")
    assert not dockerignored("shared/src/rebalancer_shared/queue.py")


def replay_build_stage(name: str, tmp_path: Path) -> tuple[Path, str, dict[str, str]]:
    """The build stage's COPY and `uv sync` steps, as processes: what `docker build` installs.

    Returns the virtual environment, the entry point's module and the environment to run it in.
    """
    dockerfile = Dockerfile(DOCKER / name)
    build = dockerfile.stages[0]
    venv = tmp_path / "venv"
    env = {**dockerfile.env(build), "UV_PROJECT_ENVIRONMENT": str(venv)}
    # Speed only, same packages: no bytecode compilation, links instead of copies from the cache.
    env |= {"UV_COMPILE_BYTECODE": "0", "UV_LINK_MODE": "hardlink"}
    outside = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env = {**outside, **env}
    src = tmp_path / "src"
    src.mkdir()
    for item in build.instructions:
        if item.keyword == "COPY":
            *sources, target = item.arguments.split()
            for source in sources:
                destination = src / target
                if target.endswith("/"):
                    destination = destination / Path(source).name
                destination.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, destination)
                else:
                    shutil.copy(ROOT / source, destination)
        elif item.keyword == "RUN" and item.arguments.startswith("uv sync"):
            _uv, *arguments = shlex.split(item.arguments)
            done = subprocess.run(
                [uv_executable(), *arguments], cwd=src, env=env, capture_output=True
            )
            assert done.returncode == 0, done.stderr.decode()
    script = entrypoint(dockerfile)[0]
    assert (venv / "bin" / script).is_file(), f"{name}: no {script} in the venv"
    member = PYTHON_IMAGES[name]
    manifest = tomllib.loads((ROOT / MEMBER_FOLDERS[member] / "pyproject.toml").read_text())
    return venv, manifest["project"]["scripts"][script].split(":")[0], env


def run_in(venv: Path, code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=venv.parent,  # not the repository: nothing importable by accident
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("name", list(PYTHON_IMAGES))
def test_build_stage_replayed_installs_the_entry_point_into_the_venv(
    name: str, tmp_path: Path
) -> None:
    venv, module, env = replay_build_stage(name, tmp_path)
    origin = run_in(
        venv, f"import importlib.util; print(importlib.util.find_spec('{module}').origin)", env
    )
    # Installed into the venv, not linked back to the sources it was built from.
    assert origin.startswith(str(venv)), origin
    assert not list(venv.glob("lib/python*/site-packages/*.pth"))


def test_processor_image_imports_its_whole_entry_point(tmp_path: Path) -> None:
    """Every dependency of the trading path (ib_async, httpx, apprise, redis) is in the image."""
    venv, module, env = replay_build_stage("event-processor.Dockerfile", tmp_path)
    assert run_in(venv, f"import {module}; print('ok')", env) == "ok"


def test_healthcheck_script_is_what_the_broker_and_processor_images_run() -> None:
    for name, service in (
        ("event-broker.Dockerfile", "event-broker"),
        ("event-processor.Dockerfile", "event-processor"),
    ):
        dockerfile = Dockerfile(DOCKER / name)
        check = dockerfile.final.last("HEALTHCHECK")
        assert check is not None
        assert check.exec_form() == ["python", "/app/healthcheck.py", service]
        copies = [item.arguments for item in dockerfile.final.all("COPY")]
        assert "docker/healthcheck.py /app/healthcheck.py" in copies


def test_parser_joins_continuation_lines_and_drops_comments() -> None:
    parsed = parse_instructions("# note\nRUN a \\\n    && b\nUSER 1:1\n")
    assert [(item.keyword, item.arguments) for item in parsed] == [
        ("RUN", "a && b"),
        ("USER", "1:1"),
    ]
