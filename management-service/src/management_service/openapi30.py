"""The OpenAPI 3.1 schema FastAPI writes, rewritten as OpenAPI 3.0 for the offline `/docs`.

The `swagger-ui-bundle` package ships Swagger UI 4, which reads OpenAPI 3.0 only ("Unable to
render this definition" for 3.1). `/openapi.json` stays 3.1, as FastAPI writes it; `/docs` reads
this rewrite, which changes the three 3.1 forms the schema uses:

- `anyOf: [X, {"type": "null"}]` (an optional value) -> X with `nullable: true`;
- `const: v` -> `enum: [v]`;
- `examples: [a, ...]` in a schema -> `example: a`.
"""

from __future__ import annotations

from typing import Any

OPENAPI_30 = "3.0.3"
NULL = {"type": "null"}


def as_openapi_30(schema: dict[str, Any]) -> dict[str, Any]:
    """A 3.0 copy of `schema`; `schema` itself is not changed."""
    converted: dict[str, Any] = _convert(schema)
    converted["openapi"] = OPENAPI_30
    return converted


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            # Names of fields, not keywords: a field may well be called `const`.
            out[key] = {name: _convert(field) for name, field in value.items()}
        else:
            out[key] = _convert(value)
    options = out.get("anyOf")
    if isinstance(options, list) and NULL in options:
        rest = [option for option in options if option != NULL]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        elif len(rest) == 1:
            out["allOf"] = rest  # 3.0 ignores the siblings of a $ref, such as nullable
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    examples = out.get("examples")
    if isinstance(examples, list):  # a schema's list; an operation's `examples` is a mapping
        del out["examples"]
        if examples:
            out["example"] = examples[0]
    return out
