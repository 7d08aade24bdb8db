"""The overview page and the usage-limit banner it shares with every page, the usage and
health pages, and the API reference rendered from the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ...store import Store
from .. import views
from ..charts import horizontal_bars, money, short_number, stacked_bars
from ..deps import Db, now, zone_of
from .rendering import page, redirect, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/")
def overview_page(request: Request, db: Db) -> Response:
    return page(request, db, "overview.html",
                lambda store: views.overview(store, now(), zone_of(request)),
                json_url="/api/overview")


@router.get("/fragments/cooldown")
def cooldown_fragment(request: Request, db: Db) -> Response:
    with db() as store:
        cooldown = views.cooldown_state(store, now())
    if request.query_params.get("format") == "json":
        return JSONResponse(cooldown)
    # The overview's card polls this too (`part=card`), so card and banner never disagree.
    part = "_cooldown_card.html" if request.query_params.get("part") == "card" else \
        "_cooldown.html"
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, part, {"cooldown": cooldown, "csrf": request.state.cnp_csrf,
                        "authed": request.state.cnp_auth})


@router.post("/cooldown/clear")
def clear_cooldown(db: Db) -> Response:
    with db() as store:
        store.cooldowns.clear(now())
    return redirect("/?flash=cleared")


@router.get("/usage")
def usage_page(request: Request, db: Db,
               days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    def charts(store: Store, data: dict[str, Any]) -> dict[str, Any]:
        labels = [d["date"][5:] for d in data["by_day"]]
        tokens = stacked_bars(labels, [
            ("input", "s1", [d["input_tokens"] for d in data["by_day"]]),
            ("output", "s2", [d["output_tokens"] for d in data["by_day"]]),
            ("cache write", "s3", [d["cache_creation_tokens"] for d in data["by_day"]]),
            ("cache read", "s4", [d["cache_read_tokens"] for d in data["by_day"]]),
        ], title=f"Tokens per day, last {days} days", fmt=short_number)
        cost = stacked_bars(labels, [("cost", "s2", [d["cost_usd"] for d in data["by_day"]])],
                            title=f"Cost per day, last {days} days", fmt=money)
        top = data["by_job"][:15]
        job_cost = horizontal_bars([(j["job_name"], j["cost_usd"]) for j in top],
                                   title="Cost by job", css="s2", fmt=money)
        job_tokens = horizontal_bars(
            [(j["job_name"], j["input_tokens"] + j["output_tokens"]
              + j["cache_creation_tokens"] + j["cache_read_tokens"]) for j in top],
            title="Tokens by job", css="s1", fmt=short_number)
        return {"charts": {"tokens": tokens, "cost": cost, "job_cost": job_cost,
                           "job_tokens": job_tokens}}

    return page(request, db, "usage.html",
                lambda store: views.usage(store, now(), zone_of(request), days),
                json_url=f"/api/usage?days={days}", more=charts)


@router.get("/health")
def health_page(request: Request, db: Db, fast: bool = False) -> Response:
    from ... import health

    def build(store: Store) -> Any:
        return health.check(db.location, now(), fast=fast).to_dict()

    return page(request, db, "health.html", build,
                json_url="/api/health" + ("?fast=true" if fast else ""), fast=fast)


@router.get("/docs")
def api_docs(request: Request) -> Response:
    """The API reference, rendered from the OpenAPI document (no scripts, works offline)."""
    spec = request.app.openapi()
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            params = [{"name": p["name"], "in": p["in"], "required": p.get("required", False)}
                      for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            groups.setdefault(tag, []).append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "params": params, "body": ref.rsplit("/", 1)[-1] if ref else None})
    schemas = spec.get("components", {}).get("schemas", {})
    return render(request, "docs.html", {"groups": groups}, cooldown=None,
                  json_url="/openapi.json", schemas=schemas, info=spec.get("info", {}))
