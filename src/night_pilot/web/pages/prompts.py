"""The prompt pages: the list, a prompt's page, and the forms that create, edit and delete
prompts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from ... import catalog
from ...errors import Conflict, InvalidInput
from .. import views
from ..deps import Db, now
from ..schemas import PromptCreate, PromptUpdate, tags_of
from .rendering import form_fields, page, problems, redirect

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/prompts")
def prompts_page(request: Request, db: Db, tag: Annotated[str | None, Query()] = None
                 ) -> Response:
    return page(request, db, "prompts.html", lambda store: views.prompts(store, tag or None),
                json_url="/api/prompts" + (f"?tag={tag}" if tag else ""))


@router.get("/prompts/new")
def new_prompt_page(request: Request, db: Db) -> Response:
    return page(request, db, "prompt_form.html", lambda store: None, form={}, errors=[],
                prompt=None)


@router.post("/prompts")
async def create_prompt(request: Request, db: Db) -> Response:
    fields = await form_fields(request)
    return await run_in_threadpool(_create_prompt, request, db, fields)


def _create_prompt(request: Request, db: Db, fields: dict[str, str]) -> Response:
    try:
        body = PromptCreate.model_validate(fields)
        p = catalog.make_prompt(body.title, body.content, tags_of(body.tags) or [])
        with db() as store:
            [prompt_id] = store.prompts.insert_many([p], now(), actor="web")
    except (ValidationError, InvalidInput) as exc:
        return page(request, db, "prompt_form.html", lambda store: None, status=422,
                    form=fields, errors=problems(exc), prompt=None)
    return redirect(f"/prompts/{prompt_id}?flash=created")


@router.get("/prompts/{prompt_id}")
def prompt_page(request: Request, db: Db, prompt_id: int) -> Response:
    return page(request, db, "prompt_form.html", lambda store: views.prompt(store, prompt_id),
                json_url=f"/api/prompts/{prompt_id}", errors=[],
                more=lambda store, data: {"prompt": data, "form": _prompt_form(data)})


def _prompt_form(data: dict[str, Any]) -> dict[str, str]:
    return {"title": data["title"], "content": data["content"], "tags": ",".join(data["tags"])}


@router.post("/prompts/{prompt_id}")
async def update_prompt(request: Request, db: Db, prompt_id: int) -> Response:
    fields = await form_fields(request)
    return await run_in_threadpool(_update_prompt, request, db, prompt_id, fields)


def _update_prompt(request: Request, db: Db, prompt_id: int, fields: dict[str, str]
                   ) -> Response:
    try:
        body = PromptUpdate.model_validate(fields)
        with db() as store:
            catalog.edit_prompt(store, prompt_id, now(), title=body.title, content=body.content,
                                tags=tags_of(body.tags) if body.tags is not None else None)
    except (ValidationError, InvalidInput) as exc:
        return page(request, db, "prompt_form.html", lambda store: views.prompt(store, prompt_id),
                    status=422, errors=problems(exc),
                    more=lambda store, data: {"prompt": data, "form": fields})
    return redirect(f"/prompts/{prompt_id}?flash=updated")


@router.post("/prompts/{prompt_id}/delete")
def delete_prompt(request: Request, db: Db, prompt_id: int) -> Response:
    try:
        with db() as store:
            store.prompts.delete(prompt_id, now())
    except Conflict as exc:
        return page(request, db, "prompt_form.html", lambda store: views.prompt(store, prompt_id),
                    status=409, errors=problems(exc),
                    more=lambda store, data: {"prompt": data, "form": _prompt_form(data)})
    return redirect("/prompts?flash=deleted")
