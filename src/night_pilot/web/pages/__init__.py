"""The HTML pages (Jinja2, htmx) and their forms, one module per subject; `router` holds them all.

Each page's data comes from `views`, the same function its JSON twin under /api returns;
`?format=json` on any page URL returns that data instead of the HTML. Forms post back to the
page (form-encoded, with the CSRF field the guard checks) and redirect on success; on bad
input the form is shown again with the message, nothing stored.
"""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from . import jobs, login, overview, prompts, runs

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
for _subject in (overview, prompts, jobs, runs, login):
    router.include_router(_subject.router)

__all__ = ["router"]
