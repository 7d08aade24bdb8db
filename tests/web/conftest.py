"""Fixtures for the dashboard tests: an app on a fresh database, clients that come from this
machine (loopback address and Host), with and without the token, and a logged-in browser-like
client that carries the session cookie and its CSRF token.

The tests of a module share one app (FastAPI prepares an app's routes on its first request,
and Jinja compiles each template once per app: tens of milliseconds each time); `site` points
it at the test's own database and working directory and forgets the login codes it issued."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from night_pilot.config import DbLocation
from night_pilot.store import open_store
from night_pilot.web.app import create_app
from night_pilot.web.deps import StoreOpener
from night_pilot.web.security import LoginCodes

BASE = "http://127.0.0.1:8765"
LOCAL = ("127.0.0.1", 50000)


@dataclass
class Site:
    root: Path
    db: Path
    token: str
    token_path: Path
    app: Any
    anon: TestClient  # a local reader without credentials
    api: TestClient  # a script with the token header

    def store(self) -> Any:
        return open_store(DbLocation(path=self.db))

    def client(self, **kwargs: Any) -> TestClient:
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("client", LOCAL)
        return TestClient(self.app, **kwargs)

    def browser(self) -> tuple[TestClient, str]:
        """A client logged in through a one-time link, and its CSRF token."""
        c = self.client(follow_redirects=False)
        code = self.app.state.auth.codes.issue()
        r = c.get(f"/login?code={code}")
        assert r.status_code == 303, r.text
        page = c.get("/", headers={"accept": "text/html"}).text
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "no CSRF field on the page of a logged-in browser"
        return c, match.group(1)

    def prompt(self, title: str = "Nightly review", content: str = "Review the code.",
               tags: list[str] | None = None) -> dict[str, Any]:
        r = self.api.post("/api/prompts", json={"title": title, "content": content,
                                                "tags": tags or []})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def job(self, prompt_id: int, cron: str = "0 3 * * *", **extra: Any) -> dict[str, Any]:
        body = {"prompt_id": prompt_id, "cron": cron, "timezone": "UTC", **extra}
        r = self.api.post("/api/jobs", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


# What create_app keeps in app.state; `site` re-points the per-database part for each test.
APP_STATE = {"location", "opener", "auth", "zone", "cwd", "templates"}


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    root = tmp_path_factory.mktemp("web")
    token_path = root / "web-token"
    app = create_app(DbLocation(path=root / "unused.db"), token_path=token_path, zone="UTC",
                     cwd=root)
    assert set(vars(app.state)["_state"]) == APP_STATE, "site must re-point the new state"
    return app, token_path


@pytest.fixture
def site(tmp_path: Path, shared_app: tuple[Any, Path],
         fresh_sqlite: Callable[[Path], Path]) -> Iterator[Site]:
    app, token_path = shared_app
    db = fresh_sqlite(tmp_path / "cnp" / "claude-night-pilot.db")
    work = tmp_path / "work"
    work.mkdir()
    location = DbLocation(path=db)
    app.state.location = location
    app.state.opener = StoreOpener(location)
    app.state.cwd = work
    app.state.auth.codes = LoginCodes(key=app.state.auth.key)
    token = token_path.read_text().strip()
    anon = TestClient(app, base_url=BASE, client=LOCAL)
    api = TestClient(app, base_url=BASE, client=LOCAL,
                     headers={"Authorization": f"Bearer {token}"})
    yield Site(tmp_path, db, token, token_path, app, anon, api)
    anon.close()
    api.close()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """test_fuzz.py, slow as a whole, builds its cases from the app's OpenAPI document while it
    is collected (a second or more): when `-m` deselects slow tests, it is not collected."""
    markexpr = config.getoption("markexpr")
    if collection_path.name != "test_fuzz.py" or not markexpr:
        return None
    from _pytest.mark.expression import Expression

    return not Expression.compile(markexpr).evaluate(lambda name, **_: name == "slow")
