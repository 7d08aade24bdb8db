"""The run pages: the filtered list, a run's page with its events (polled while it runs), and
the cancel button.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ...models import RunStatus
from ...store import Store
from .. import views
from ..deps import Db, now
from ..schemas import MAX_ID
from .rendering import page, redirect

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/runs")
def runs_page(
    request: Request, db: Db,
    job_id: Annotated[str | None, Query(max_length=30)] = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000_000)] = 1,
) -> Response:
    # Empty filter fields come from the filter form: they mean "any".
    job = int(job_id) if job_id and job_id.isdigit() and 0 < int(job_id) <= MAX_ID else None
    state = status if status in RunStatus.values() else None
    query = "&".join(f"{k}={v}" for k, v in (("job_id", job), ("status", state)) if v)

    def more(store: Store, data: Any) -> dict[str, Any]:
        jobs = [{"id": i, "name": name} for i, name in store.jobs.names()]
        return {"jobs": jobs, "statuses": RunStatus.values(), "query": query}

    return page(request, db, "runs.html",
                lambda store: views.run_list(store, job_id=job, status=state, page=page_no),
                json_url="/api/runs" + (f"?{query}&page={page_no}" if query
                                              else f"?page={page_no}"),
                more=more)


@router.get("/runs/{run_id}")
def run_page(request: Request, db: Db, run_id: int) -> Response:
    from ...daemons import daemon_alive

    return page(request, db, "run.html",
                lambda store: views.run_detail(store, run_id, with_events=True),
                json_url=f"/api/runs/{run_id}?events=true",
                more=lambda store, _: {"daemon_running": daemon_alive(store, now()) is not None})


@router.get("/runs/{run_id}/events")
def events_fragment(request: Request, db: Db, run_id: int,
                    after: Annotated[int, Query(ge=-1, le=MAX_ID)] = -1,
                    live: bool = False) -> Response:
    """New output lines since `after` for the live view; stops polling when the run ends and
    asks the page to reload once so the final numbers show."""
    with db() as store:
        data = views.events(store, run_id, after)
    if request.query_params.get("format") == "json":
        return JSONResponse(data)
    response: Response = request.app.state.templates.TemplateResponse(
        request, "_events.html",
        {"ev": data, "run_id": run_id, "oob": True, "live": live})
    if data["done"] and live:
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/runs/{run_id}/cancel")
def cancel_run(db: Db, run_id: int) -> Response:
    from ..api import cancel

    with db() as store:
        cancel(store, run_id)
    return redirect(f"/runs/{run_id}?flash=cancelled")
