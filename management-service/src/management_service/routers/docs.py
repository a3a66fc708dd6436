"""`/docs`: Swagger UI from the `swagger-ui-bundle` package, so it works without internet.

FastAPI's own `/docs` loads Swagger UI from a CDN, and its `/redoc` loads ReDoc from one too (no
package ships ReDoc here, so the app turns `/redoc` off). Only the files the page loads are
served, from the package's directory; nothing is copied into this repository. The package's
Swagger UI (4.x) reads OpenAPI 3.0 only, so the page reads a 3.0 rewrite of the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from management_service.openapi30 import as_openapi_30

router = APIRouter(include_in_schema=False)

ASSETS = "/docs/assets"
OPENAPI_30_URL = "/docs/openapi-3.0.json"
SWAGGER_UI_DIR = Path(swagger_ui_path)
SWAGGER_UI_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
"""What the page loads. The package's own index.html is not served: it loads the petstore demo
from the internet."""


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI_30_URL}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
        # No badge from validator.swagger.io: the page asks nothing of the internet.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(ASSETS + "/{name}")
async def asset(name: str) -> FileResponse:
    if name not in SWAGGER_UI_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no Swagger UI file {name!r}")
    return FileResponse(
        SWAGGER_UI_DIR / name,
        media_type=SWAGGER_UI_FILES[name],
        # The names carry no version: asked again on every load, so an upgrade shows at once.
        headers={"Cache-Control": "no-cache"},
    )


@router.get(OPENAPI_30_URL)
async def openapi_30(request: Request) -> dict[str, Any]:
    """What Swagger UI 4 reads: see openapi30.py."""
    return as_openapi_30(request.app.openapi())
