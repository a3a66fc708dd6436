# management-service: the management API and dashboard. Build from the repository root:
#   docker build -f docker/management-service.Dockerfile .
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
RUN uv sync --frozen --no-dev --package management-service --no-install-workspace
COPY shared/src shared/src
COPY management-service/src management-service/src
RUN uv sync --frozen --no-dev --package management-service --no-editable

FROM python:3.11.13-slim-bookworm
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
# Inside the container the API listens on 0.0.0.0:8000; compose publishes it on 127.0.0.1.
ENV MANAGEMENT_HOST=0.0.0.0 MANAGEMENT_PORT=8000
EXPOSE 8000
# GET /health answers 503 when Redis cannot be read (slim images have no curl: Python's urllib).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["management-service"]
