"""The API's documentation page, rendered on the server from the OpenAPI document.

No script and nothing from another host (FastAPI's own /docs loads Swagger UI from a CDN):
a plain HTML page, its stylesheet served beside it, readable offline and under the
service's `default-src 'self'` policy."""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse

DOCS_PATH = "/api/v1/docs"
CSS_PATH = "/api/v1/docs.css"

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ info.title }} API {{ info.version }}</title>
<link rel="stylesheet" href="{{ css }}">
</head>
<body>
<header>
<h1>{{ info.title }} API <small>{{ info.version }}</small></h1>
<p>{{ info.description }}</p>
<p>The machine-readable description: <a href="{{ spec }}">{{ spec }}</a> (OpenAPI
{{ openapi }}).</p>
<nav><ul>
{% for op in operations %}<li><a href="#{{ op.anchor }}"><code>{{ op.method }}
{{ op.path }}</code></a> {{ op.summary }}</li>
{% endfor %}</ul></nav>
</header>
<main>
{% for op in operations %}
<section id="{{ op.anchor }}">
<h2><code>{{ op.method }} {{ op.path }}</code></h2>
<p class="summary">{{ op.summary }}</p>
{% for para in op.description %}<p>{{ para }}</p>{% endfor %}
{% if op.parameters %}
<table>
<caption>Parameters</caption>
<thead><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr></thead>
<tbody>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code></td><td>{{ p.where }}</td>
<td><code>{{ p.type }}</code></td><td>{{ "yes" if p.required else "no" }}</td>
<td>{{ p.description }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
<table>
<caption>Responses</caption>
<thead><tr><th>status</th><th>content</th><th>description</th></tr></thead>
<tbody>
{% for r in op.responses %}<tr><td>{{ r.status }}</td><td>{{ r.content }}</td>
<td>{{ r.description }}</td></tr>
{% endfor %}</tbody>
</table>
</section>
{% endfor %}
<section id="schemas">
<h2>Schemas</h2>
{% for s in schemas %}
<h3 id="schema-{{ s.name }}">{{ s.name }}</h3>
{% if s.description %}<p>{{ s.description }}</p>{% endif %}
{% if s.fields %}<table>
<thead><tr><th>field</th><th>type</th><th>description</th></tr></thead>
<tbody>
{% for f in s.fields %}<tr><td><code>{{ f.name }}</code></td><td><code>{{ f.type }}</code></td>
<td>{{ f.description }}</td></tr>
{% endfor %}</tbody>
</table>{% endif %}
{% endfor %}
</section>
</main>
</body>
</html>
"""

_CSS = """body{font:16px/1.5 system-ui,sans-serif;max-width:72rem;margin:0 auto;padding:1rem;
color:#1b1b1b;background:#fff}
code{font:0.9em ui-monospace,monospace}
h2{border-top:1px solid #ccc;padding-top:1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:0.5rem 0}
th,td{border:1px solid #ddd;padding:0.25rem 0.5rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:bold}
small{color:#555}
"""


def _type(schema: dict[str, Any]) -> str:
    """A parameter's or field's schema in a few characters."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"{_type(schema.get('items', {}))}[]"
    if "format" in schema:
        kind += f" ({schema['format']})"
    limits = [
        f"{k} {schema[k]}"
        for k in ("pattern", "minimum", "maximum", "minLength", "maxLength")
        if k in schema
    ]
    default = f", default {schema['default']!r}" if "default" in schema else ""
    return kind + (f" [{'; '.join(limits)}]" if limits else "") + default


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                {
                    "name": p["name"],
                    "where": p["in"],
                    "type": _type(p.get("schema", {})),
                    "required": p.get("required", False),
                    "description": p.get("description", p.get("schema", {}).get("description", "")),
                }
                for p in op.get("parameters", [])
            ]
            responses = [
                {
                    "status": status,
                    "content": ", ".join(
                        f"{ctype} ({_type(body.get('schema', {}))})"
                        if body.get("schema")
                        else ctype
                        for ctype, body in r.get("content", {}).items()
                    ),
                    "description": r.get("description", ""),
                }
                for status, r in op.get("responses", {}).items()
            ]
            ops.append(
                {
                    "anchor": f"{method}-{path}".replace("/", "-")
                    .strip("-")
                    .replace("{", "")
                    .replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": [p for p in op.get("description", "").split("\n\n") if p],
                    "parameters": params,
                    "responses": responses,
                }
            )
    return ops


def _schemas(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        fields = [
            {"name": f, "type": _type(s), "description": s.get("description", "")}
            for f, s in schema.get("properties", {}).items()
        ]
        out.append({"name": name, "description": schema.get("description", ""), "fields": fields})
    return out


def render_docs(spec: dict[str, Any]) -> str:
    """The documentation page of the OpenAPI document `spec` (HTML, escaped)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        info=spec.get("info", {}),
        openapi=spec.get("openapi", ""),
        spec="/api/v1/openapi.json",
        css=CSS_PATH,
        operations=_operations(spec),
        schemas=_schemas(spec),
    )


def docs_router(app: FastAPI) -> APIRouter:
    """The docs page and its stylesheet, rendered once from `app`'s OpenAPI document."""
    router = APIRouter(include_in_schema=False)
    page: list[str] = []

    @router.get(DOCS_PATH, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        if not page:
            page.append(render_docs(app.openapi()))
        return HTMLResponse(page[0])

    @router.get(CSS_PATH)
    def css() -> Response:
        return Response(_CSS, media_type="text/css")

    return router
