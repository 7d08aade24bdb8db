"""The guard: the token file, one-time login links, session cookies, CSRF, origins, loopback
reads, DNS re-binding, and the headers every response carries."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from night_pilot.config import DbLocation
from night_pilot.web.app import create_app
from night_pilot.web.security import COOKIE, Auth, LoginCodes, load_token

from .conftest import BASE, Site


def test_the_token_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "web-token"
    token = load_token(path)
    assert len(token) == 43  # 32 random bytes, URL-safe base64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_token(path) == token
    os.chmod(path, 0o644)
    assert load_token(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_token_lives_in_the_data_directory(tmp_path: Path, cnp_home: Path) -> None:
    create_app(DbLocation(path=tmp_path / "x.db"))
    assert stat.S_IMODE((cnp_home / "web-token").stat().st_mode) == 0o600


def test_a_login_link_works_once_and_sets_a_strict_http_only_cookie(site: Site) -> None:
    c = site.client(follow_redirects=False)
    code = site.app.state.auth.codes.issue()
    r = c.get(f"/login?code={code}")
    assert r.status_code == 303 and r.headers["location"] == "/?flash=loggedin"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered
    again = site.client(follow_redirects=False).get(f"/login?code={code}",
                                                    headers={"accept": "text/html"})
    assert again.status_code == 403 and "not valid" in again.text
    assert "set-cookie" not in again.headers


def test_login_codes_expire() -> None:
    codes = LoginCodes(ttl_s=60)
    code = codes.issue(now=1000.0)
    assert codes.consume(code, now=1061.0) is False
    fresh = codes.issue(now=1000.0)
    assert codes.consume(fresh, now=1059.0) is True
    assert codes.consume("made-up", now=1000.0) is False


def test_pasting_the_token_logs_in_and_a_wrong_one_does_not(site: Site) -> None:
    c = site.client(follow_redirects=False)
    bad = c.post("/login", data={"token": "guess"})
    assert bad.status_code == 403 and COOKIE not in c.cookies
    good = c.post("/login", data={"token": site.token})
    assert good.status_code == 303 and COOKIE in c.cookies


def test_sessions_are_signed_and_expire() -> None:
    auth = Auth("k" * 40)
    cookie = auth.new_session(now=1000.0)
    nonce = auth.session_nonce(cookie, now=1001.0)
    assert nonce is not None
    assert auth.session_nonce(cookie, now=1000.0 + 8 * 86400) is None
    forged = cookie.rsplit(".", 1)[0] + ".00"
    assert auth.session_nonce(forged, now=1001.0) is None
    assert Auth("x" * 40).session_nonce(cookie, now=1001.0) is None  # another token
    assert auth.session_nonce("garbage", now=1001.0) is None


def test_a_session_needs_the_csrf_token_for_changes(site: Site) -> None:
    c, csrf = site.browser()
    no_csrf = c.post("/api/prompts", json={"title": "t", "content": "c"})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf"
    wrong = c.post("/api/prompts", json={"title": "t", "content": "c"},
                   headers={"X-CSRF-Token": "0" * 40})
    assert wrong.status_code == 403
    ok = c.post("/api/prompts", json={"title": "t", "content": "c"},
                headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    form_wrong = c.post("/prompts", data={"title": "f", "content": "c", "csrf_token": "nope"})
    assert form_wrong.status_code == 403 and form_wrong.json()["error"] == "csrf"
    form_missing = c.post("/prompts", data={"title": "f", "content": "c"},
                          headers={"accept": "text/html"})
    assert form_missing.status_code == 403 and "CSRF" in form_missing.text
    form_ok = c.post("/prompts", data={"title": "f", "content": "c", "csrf_token": csrf})
    assert form_ok.status_code == 303
    titles = [p["title"] for p in site.anon.get("/api/prompts").json()["prompts"]]
    assert titles == ["t", "f"]


def test_a_session_from_another_origin_is_refused(site: Site) -> None:
    c, csrf = site.browser()
    r = c.post("/prompts", data={"title": "f", "content": "c", "csrf_token": csrf},
               headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["message"]
    same = c.post("/prompts", data={"title": "f", "content": "c", "csrf_token": csrf},
                  headers={"Origin": BASE})
    assert same.status_code == 303


def test_a_tampered_cookie_is_no_session(site: Site) -> None:
    c, csrf = site.browser()
    c.cookies.set(COOKIE, c.cookies[COOKIE][:-2] + "00")
    r = c.post("/api/prompts", json={"title": "t", "content": "c"},
               headers={"X-CSRF-Token": csrf})
    assert r.status_code == 401


def test_logout_ends_the_session(site: Site) -> None:
    c, csrf = site.browser()
    r = c.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and COOKIE not in c.cookies
    assert c.post("/api/prompts", json={"title": "t", "content": "c"},
                  headers={"X-CSRF-Token": csrf}).status_code == 401


def test_reads_from_another_machine_need_credentials(site: Site) -> None:
    remote = site.client(client=("192.0.2.7", 40000), base_url="http://192.0.2.1:8765")
    r = remote.get("/api/overview")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert remote.get("/", headers={"accept": "text/html"}).status_code == 401
    assert remote.get("/api/overview", headers={"X-CNP-Token": site.token}).status_code == 200
    # The login page and static files stay reachable, so a remote user can log in.
    assert remote.get("/login").status_code == 200
    assert remote.get("/static/app.css").status_code == 200


def test_a_rebound_host_name_is_refused_even_from_loopback(site: Site) -> None:
    rebound = site.client(base_url="http://evil.example:8765")
    assert rebound.get("/api/prompts").status_code == 401
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765", "app.localhost:8765"):
        r = site.anon.get("/api/prompts", headers={"host": host})
        assert r.status_code == 200, host


def test_responses_carry_security_headers(site: Site) -> None:
    for url in ("/", "/api/overview", "/static/app.css"):
        r = site.anon.get(url)
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_an_oversized_body_is_refused_before_reading(site: Site) -> None:
    r = site.api.post("/api/prompts", content=b"x", headers={
        "content-length": str(64 * 1024 * 1024), "content-type": "application/json"})
    assert r.status_code == 413


def test_pages_hide_forms_from_readers_and_show_them_to_sessions(site: Site) -> None:
    site.prompt()
    page = site.anon.get("/prompts/1", headers={"accept": "text/html"}).text
    assert "Log in to make changes" in page and "Delete prompt" not in page
    c, csrf = site.browser()
    page = c.get("/prompts/1").text
    assert "Delete prompt" in page and f'value="{csrf}"' in page
    assert site.token not in page


def test_no_page_shows_the_token(site: Site) -> None:
    j = site.job(site.prompt()["id"])
    c, _ = site.browser()
    for url in ("/", "/prompts", "/jobs", f"/jobs/{j['id']}", f"/jobs/{j['id']}/edit",
                "/runs", "/usage", "/health", "/docs", "/login", "/openapi.json"):
        assert site.token not in c.get(url).text, url


def test_code_from_another_server_does_not_log_in(site: Site, tmp_path: Path) -> None:
    other = create_app(DbLocation(path=site.db), token_path=tmp_path / "other" / "web-token")
    code = other.state.auth.codes.issue()
    r = site.client(follow_redirects=False).get(f"/login?code={code}")
    assert r.status_code == 403  # a code is signed with its server's token
    same = create_app(DbLocation(path=site.db), token_path=site.token_path)
    r = site.client(follow_redirects=False).get(f"/login?code={same.state.auth.codes.issue()}")
    assert r.status_code == 303  # a server of the same token (`cnp web link`) may issue it
