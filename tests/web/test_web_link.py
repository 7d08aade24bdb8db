"""`cnp web link` prints a fresh one-time login link that the running dashboard accepts (the
code is signed with the token both read), and where the token is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.web.security import LoginCodes

from .test_server import Served, _get


@pytest.mark.slow  # a server or daemon process of its own
def test_a_link_from_another_process_logs_in_once(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "cnp"
    monkeypatch.setenv("CNP_HOME", str(home))
    refused = cnp("web", "link")
    assert refused.exit_code == 1 and "no dashboard is running" in refused.stderr
    assert "cnp daemon --web" in refused.stderr
    served = Served(home, "--port", "0")
    try:
        base, _ = served.link()
        res = cnp("web", "link")
        assert res.exit_code == 0, res.stderr
        assert f"{base}/login?code=" in res.stdout and str(home / "web-token") in res.stdout
        doc = cnp("web", "link", "--format", "json").json
        assert doc["url"] == base and doc["token_file"] == str(home / "web-token")
        assert doc["login_url"] not in res.stdout  # a fresh code each time
        status, headers, _ = _get(doc["login_url"])
        assert status == 303 and "HttpOnly" in headers["set-cookie"]
        assert _get(doc["login_url"])[0] == 403  # once
        forged = LoginCodes(key=b"not the token" * 3).issue()
        assert _get(f"{base}/login?code={forged}")[0] == 403
    finally:
        assert served.stop() == 0
    assert not (home / "web-server.json").exists()
    assert "no dashboard is running" in cnp("web", "link").stderr


def test_signed_codes_expire_and_need_the_key() -> None:
    codes = LoginCodes(ttl_s=60, key=b"k" * 32)
    code = codes.issue(now=1000.0)
    other = LoginCodes(key=b"k" * 32)  # another process with the same token
    assert other.consume(code, now=1059.0) is True
    assert other.consume(code, now=1059.0) is False
    assert LoginCodes(key=b"k" * 32).consume(codes.issue(now=1000.0), now=1061.0) is False
    assert LoginCodes(key=b"j" * 32).consume(codes.issue(now=1000.0), now=1001.0) is False
