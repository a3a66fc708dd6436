# zehnlabs-sim: the Zehnlabs simulator of the demo (stream, allocations API and control API on 4200).
# The API key comes from ZEHNLABS_SIM_API_KEY at run time. Build from the repository root:
#   docker build -f docker/zehnlabs-sim.Dockerfile .
# Dependencies come from uv.lock only (uv sync --frozen); the final image holds the virtual
# environment only, runs as an unprivileged user and carries no secrets
# (every setting arrives as an environment variable at run time).

FROM python:3.11.13-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The workspace's manifests first: the third-party layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY event-broker/pyproject.toml event-broker/
COPY event-processor/pyproject.toml event-processor/
COPY management-service/pyproject.toml management-service/
COPY simulators/pyproject.toml simulators/
COPY testkit/pyproject.toml testkit/
RUN uv sync --frozen --no-dev --package rebalancer-simulators --no-install-workspace
COPY simulators/src simulators/src
RUN uv sync --frozen --no-dev --package rebalancer-simulators --no-editable

FROM python:3.11.13-slim-bookworm
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
EXPOSE 4200
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4200/control/state', timeout=4)"]
ENTRYPOINT ["zehnlabs-sim"]
CMD ["--host", "0.0.0.0", "--port", "4200"]
