"""`cnp service`: the systemd user unit and the launchd agent, rendered from fixed inputs,
installed into a temporary home with and without a service manager, and checked by
`systemd-analyze verify`."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot import service as svc
from night_pilot.errors import CnpError

TOKEN = "sk-ant-oat01-not-a-real-token"
# Looked up before any test narrows PATH.
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def make_exe(path: Path, body: str = "exit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
def fixed(tmp_path: Path) -> dict[str, str]:
    """A fixed environment and an installation whose `cnp` sits beside its interpreter."""
    bindir = tmp_path / "venv" / "bin"
    make_exe(bindir / "python")
    make_exe(bindir / "cnp")
    return {
        "HOME": str(tmp_path / "home"),
        "CNP_HOME": str(tmp_path / "data"),
        "PATH": f"{bindir}:/usr/bin:/bin",
    }


def spec_for(env: dict[str, str], kind: svc.Kind = "systemd", **kw: object) -> svc.ServiceSpec:
    python = str(Path(env["PATH"].split(":")[0]) / "python")
    return svc.build_spec(kind, env, executable=python, **kw)  # type: ignore[arg-type]


# -- rendering ----------------------------------------------------------------------------------


def test_systemd_unit_runs_the_daemon_with_absolute_paths(fixed: dict[str, str],
                                                          tmp_path: Path) -> None:
    spec = spec_for(fixed)
    unit = svc.render_systemd_unit(spec)
    lines = unit.splitlines()
    assert f"ExecStart={tmp_path}/venv/bin/cnp daemon" in lines
    assert "Restart=on-failure" in lines
    assert f"EnvironmentFile={tmp_path}/data/service.env" in lines
    assert f"Environment=CNP_HOME={tmp_path}/data" in lines
    assert "KillMode=mixed" in lines
    assert "WantedBy=default.target" in lines
    [timeout] = [ln for ln in lines if ln.startswith("TimeoutStopSec=")]
    assert int(timeout.split("=")[1]) > svc.DEFAULT_SHUTDOWN_GRACE_S
    [restart_sec] = [ln for ln in lines if ln.startswith("RestartSec=")]
    assert 1 <= int(restart_sec.split("=")[1]) <= 60
    assert spec.unit_path == tmp_path / "home/.config/systemd/user/claude-night-pilot.service"
    # PATH and credentials are the environment file's business, never the unit's.
    assert "PATH" not in unit.replace("EnvironmentFile", "")


def test_unit_location_honours_xdg_config_home(fixed: dict[str, str], tmp_path: Path) -> None:
    assert spec_for({**fixed, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}).unit_path == \
        tmp_path / "cfg/systemd/user/claude-night-pilot.service"
    # A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    assert spec_for({**fixed, "XDG_CONFIG_HOME": "cfg"}).unit_path == \
        tmp_path / "home/.config/systemd/user/claude-night-pilot.service"


def test_the_service_uses_the_same_database_as_the_cli(fixed: dict[str, str],
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    unit = svc.render_systemd_unit(spec_for({**fixed, "CNP_DB": "rel/x.db"}))
    assert f"Environment=CNP_DB={tmp_path}/rel/x.db" in unit.splitlines()
    # --db wins over CNP_DB, as everywhere else.
    unit = svc.render_systemd_unit(spec_for({**fixed, "CNP_DB": "x.db"}, db="/srv/y.db"))
    assert "Environment=CNP_DB=/srv/y.db" in unit.splitlines()
    # A URL with a password stays out of the (world-readable) unit: the env file gets it.
    url = "postgresql://cnp:hunter2@db.example/cnp"
    spec = spec_for({**fixed, "CNP_DB": url})
    assert "hunter2" not in svc.render_systemd_unit(spec)
    assert f'CNP_DB="{url}"' in svc.render_env_file(spec).splitlines()
    assert "hunter2" not in svc.mask_env_text(svc.render_env_file(spec))
    plain = "postgresql://db.example/cnp"
    assert f"Environment=CNP_DB={plain}" in svc.render_systemd_unit(
        spec_for({**fixed, "CNP_DB": plain})).splitlines()


def test_awkward_paths_are_quoted_for_systemd(fixed: dict[str, str], tmp_path: Path) -> None:
    spec = replace(spec_for(fixed), command=("/opt/my tools/100%/cnp$x",),
                   environment={"CNP_HOME": "/data/50% off"})
    lines = svc.render_systemd_unit(spec).splitlines()
    assert 'ExecStart="/opt/my tools/100%%/cnp$$x" daemon' in lines
    assert 'Environment="CNP_HOME=/data/50%% off"' in lines
    with pytest.raises(CnpError):
        svc.render_systemd_unit(replace(spec, command=("/bin/a\nExecStartPre=/bin/evil",)))


def test_stop_timeout_follows_the_daemon_shutdown_grace() -> None:
    from night_pilot.cli.runs import daemon

    [grace] = [p for p in daemon.params if p.name == "grace_s"]
    assert grace.default == svc.DEFAULT_SHUTDOWN_GRACE_S
    assert svc.shutdown_grace(svc.DAEMON_ARGS) == svc.DEFAULT_SHUTDOWN_GRACE_S
    assert svc.shutdown_grace(["daemon", "--shutdown-grace", "120"]) == 120
    assert svc.shutdown_grace(["daemon", "--shutdown-grace=7.5"]) == 7.5
    assert svc.stop_timeout_s(120) > 120 + 5  # the runner's kill grace after the shutdown grace


def test_launchd_plist(fixed: dict[str, str], tmp_path: Path) -> None:
    env = {**fixed, "CLAUDE_CODE_OAUTH_TOKEN": TOKEN}
    spec = spec_for(env, "launchd")
    assert spec.unit_path == tmp_path / "home/Library/LaunchAgents" / svc.PLIST_NAME
    plist = plistlib.loads(svc.render_launchd_plist(spec))
    assert plist["Label"] == "com.claude-night-pilot.daemon"
    args = plist["ProgramArguments"]
    assert args[-2:] == [f"{tmp_path}/venv/bin/cnp", "daemon"]
    assert str(spec.env_file) in args
    assert plist["EnvironmentVariables"]["CNP_HOME"] == f"{tmp_path}/data"
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["ExitTimeOut"] > svc.DEFAULT_SHUTDOWN_GRACE_S
    for key in ("StandardOutPath", "StandardErrorPath"):
        assert Path(plist[key]).parent == tmp_path / "data"
    assert TOKEN not in svc.render_launchd_plist(spec).decode()


def test_launchd_program_reads_the_env_file_then_runs_cnp(fixed: dict[str, str],
                                                          tmp_path: Path) -> None:
    """The agent's command line, run here: it loads the env file and execs cnp's argv."""
    make_exe(tmp_path / "venv/bin/cnp", 'printf "%s|%s|%s|%s" "$*" "$CLAUDE_CODE_OAUTH_TOKEN" '
             '"$CNP_HOME" "$PATH"\n')
    spec = spec_for({**fixed, "CLAUDE_CODE_OAUTH_TOKEN": "a$b`c\"d\\e f"}, "launchd",
                    include_token=True)
    svc.ensure_env_file(spec)
    plist = plistlib.loads(svc.render_launchd_plist(spec))
    out = subprocess.run(plist["ProgramArguments"], env=plist["EnvironmentVariables"],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    assert out == f"daemon|a$b`c\"d\\e f|{tmp_path}/data|{fixed['PATH']}"


def test_cnp_command_prefers_the_running_installation(tmp_path: Path) -> None:
    venv = tmp_path / "venv/bin"
    make_exe(venv / "python")
    other = make_exe(tmp_path / "elsewhere/cnp")
    assert svc.cnp_command(str(venv / "python"), str(other.parent)) == (str(other),)
    make_exe(venv / "cnp")
    assert svc.cnp_command(str(venv / "python"), str(other.parent)) == (str(venv / "cnp"),)
    bare = make_exe(tmp_path / "bare/python3")
    assert svc.cnp_command(str(bare), str(tmp_path / "nowhere")) == \
        (str(bare), "-m", "night_pilot")


def test_env_file_holds_path_and_a_token_placeholder(fixed: dict[str, str],
                                                     tmp_path: Path) -> None:
    env = {**fixed, "CLAUDE_CODE_OAUTH_TOKEN": TOKEN, "PATH": f"{fixed['PATH']}:rel:/usr/bin"}
    text = svc.render_env_file(spec_for(env))
    assert TOKEN not in text
    assert "# CLAUDE_CODE_OAUTH_TOKEN=" in text.splitlines()
    # Relative and repeated PATH entries are dropped.
    assert svc.parse_env_text(text) == {"PATH": fixed["PATH"]}
    with_token = svc.render_env_file(spec_for(env, include_token=True))
    assert svc.parse_env_text(with_token)["CLAUDE_CODE_OAUTH_TOKEN"] == TOKEN
    masked = svc.mask_env_text(with_token)
    assert TOKEN not in masked and 'CLAUDE_CODE_OAUTH_TOKEN="***"' in masked


def test_update_env_text_keeps_the_users_lines() -> None:
    text = 'PATH="/mine"\n# my note\n# CLAUDE_CODE_OAUTH_TOKEN=\nEXTRA=1\n'
    new = svc.update_env_text(text, {"CLAUDE_CODE_OAUTH_TOKEN": "t1", "ANTHROPIC_API_KEY": "k"})
    assert new == 'PATH="/mine"\n# my note\nCLAUDE_CODE_OAUTH_TOKEN="t1"\nEXTRA=1\n' \
        'ANTHROPIC_API_KEY="k"\n'
    assert svc.update_env_text(new, {"CLAUDE_CODE_OAUTH_TOKEN": "t2"}).count("TOKEN") == 1


def test_install_warns_when_the_service_path_lacks_claude_or_node(fixed: dict[str, str],
                                                                   tmp_path: Path) -> None:
    spec = spec_for(fixed)
    tools = tmp_path / "tools"
    assert "`claude` is not on the PATH" in svc.claude_warnings(spec, str(tools))[0]
    tools.mkdir()
    (tools / "claude").write_text("#!/usr/bin/env node\n")
    (tools / "claude").chmod(0o755)
    assert "runs on node" in svc.claude_warnings(spec, str(tools))[0]
    make_exe(tools / "node")
    assert svc.claude_warnings(spec, str(tools)) == []


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary home whose PATH has no service manager on it."""
    h = tmp_path / "home"
    h.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(h / "cfg"))
    monkeypatch.setenv("PATH", str(bindir))
    for name in svc.TOKEN_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(svc, "platform_kind", lambda platform=None: "systemd")
    yield h


def unit_file(home: Path) -> Path:
    return home / "cfg/systemd/user/claude-night-pilot.service"


def files_under(*roots: Path) -> list[Path]:
    return sorted(p for r in roots if r.exists() for p in r.rglob("*"))


def test_print_writes_nothing_and_masks_secrets(home: Path, cnp_home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", TOKEN)
    for fmt in ("pretty", "json"):
        res = cnp("service", "install", "--print", "--include-token", "--format", fmt)
        assert res.exit_code == 0, res.stderr
        assert TOKEN not in res.stdout
        assert "ExecStart=" in res.stdout
    assert files_under(home, cnp_home) == []
    data = res.json
    assert data["env_file_action"] == "create"
    assert 'CLAUDE_CODE_OAUTH_TOKEN="***"' in data["env_file_contents"]
    assert data["unit_path"] == str(unit_file(home))


def test_install_without_a_service_manager(home: Path, cnp_home: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", TOKEN)
    res = cnp("service", "install")
    assert res.exit_code == 0, res.stderr
    assert "systemctl not found" in res.stdout
    assert "systemctl --user enable --now claude-night-pilot.service" in res.stdout
    assert "CLAUDE_CODE_OAUTH_TOKEN is set in this shell" in res.stdout
    assert "`claude` is not on the PATH" in res.stdout
    unit = unit_file(home).read_text()
    assert "ExecStart=/" in unit
    env_file = cnp_home / "service.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert TOKEN not in env_file.read_text()
    assert svc.parse_env_text(env_file.read_text())["PATH"] == os.environ["PATH"]

    data = cnp("service", "install", "--format", "json").json
    assert data["started"] is False and data["unit_changed"] is False
    assert data["manual_steps"] == ["systemctl --user daemon-reload",
                                    "systemctl --user enable --now claude-night-pilot.service"]


def test_reinstall_keeps_an_existing_env_file(home: Path, cnp_home: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert cnp("service", "install").exit_code == 0
    env_file = cnp_home / "service.env"
    env_file.write_text('PATH="/my/own/path"\n# CLAUDE_CODE_OAUTH_TOKEN=\n')
    monkeypatch.setenv("PATH", str(home))
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", TOKEN)
    res = cnp("service", "install", "--format", "json")
    assert res.json["env_file_action"] == "kept"
    assert env_file.read_text() == 'PATH="/my/own/path"\n# CLAUDE_CODE_OAUTH_TOKEN=\n'
    # Asked explicitly: the token goes in, the rest stays as the user wrote it.
    res = cnp("service", "install", "--include-token", "--format", "json")
    assert res.json["env_file_action"] == "updated"
    assert TOKEN not in res.stdout
    assert env_file.read_text() == f'PATH="/my/own/path"\nCLAUDE_CODE_OAUTH_TOKEN="{TOKEN}"\n'
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_install_write_failure_exits_non_zero(home: Path, cnp_home: Path) -> None:
    (home / "cfg").write_text("a file where a directory should be")
    res = cnp("service", "install", "--format", "json")
    assert res.exit_code == 1
    assert "cannot write" in res.error["message"]


def test_uninstall_removes_the_unit_and_keeps_the_env_file(home: Path, cnp_home: Path) -> None:
    assert cnp("service", "install").exit_code == 0
    res = cnp("service", "uninstall", "--format", "json")
    assert res.exit_code == 0
    assert res.json["removed"] is True and res.json["env_file_kept"] is True
    assert res.json["manual_steps"][0] == "systemctl --user stop claude-night-pilot.service"
    assert not unit_file(home).exists()
    assert (cnp_home / "service.env").exists()
    again = cnp("service", "uninstall")
    assert again.exit_code == 0 and "Not installed" in again.stdout


def test_status_detects_a_stale_unit(home: Path, cnp_home: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    before = cnp("service", "status", "--format", "json").json
    assert before["installed"] is False and before["current"] is None
    assert cnp("service", "install").exit_code == 0
    now = cnp("service", "status", "--format", "json").json
    assert now["installed"] is True and now["current"] is True
    assert now["env_file_mode"] == "0600" and now["env_file_sets"] == ["PATH"]
    assert now["active"] is None and "systemctl not found" in now["manager_error"]
    # This shell now points at another database than the installed service.
    monkeypatch.setenv("CNP_DB", str(tmp_path / "other.db"))
    stale = cnp("service", "status", "--format", "json").json
    assert stale["current"] is False
    assert f"+Environment=CNP_DB={tmp_path}/other.db" in stale["diff"]
    assert "stale" in cnp("service", "status").stdout


@pytest.fixture
def fake_systemctl(home: Path, tmp_path: Path) -> Path:
    """A systemctl that records its arguments and answers like a working user manager."""
    log = tmp_path / "systemctl.log"
    make_exe(tmp_path / "bin/systemctl", f'echo "$*" >> {log}\n'
             'case "$*" in *is-active*) echo active;; *is-enabled*) echo enabled;; esac\n')
    return log


def test_install_and_uninstall_through_systemctl(home: Path, fake_systemctl: Path) -> None:
    res = cnp("service", "install", "--format", "json")
    assert res.exit_code == 0
    assert res.json["started"] is True and res.json["manual_steps"] == []
    calls = fake_systemctl.read_text().splitlines()
    assert calls[0] == "--user daemon-reload"
    assert calls[-1] == "--user enable --now claude-night-pilot.service"
    status = cnp("service", "status", "--format", "json").json
    assert (status["active"], status["enabled"]) == ("active", "enabled")
    # Changing a running service's unit does not restart it behind the user's back.
    unit_file(home).write_text("# edited\n")
    res = cnp("service", "install", "--format", "json")
    assert any("systemctl --user restart" in n for n in res.json["notices"])
    assert "restart" not in fake_systemctl.read_text()
    res = cnp("service", "uninstall", "--format", "json")
    assert res.json["stopped"] is True and res.json["manual_steps"] == []
    assert "--user disable --now claude-night-pilot.service" in fake_systemctl.read_text()


def test_install_on_macos_bootstraps_the_agent(home: Path, tmp_path: Path, cnp_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svc, "platform_kind", lambda platform=None: "launchd")
    log = tmp_path / "launchctl.log"
    make_exe(tmp_path / "bin/launchctl", f'echo "$*" >> {log}\n'
             f'case "$1" in print) [ -f {tmp_path}/loaded ] && echo "state = running" '
             f'&& echo "pid = 42" && exit 0; exit 113;; bootstrap) : > {tmp_path}/loaded;; '
             f'bootout) /bin/rm -f {tmp_path}/loaded;; esac\n')
    res = cnp("service", "install", "--format", "json")
    assert res.exit_code == 0 and res.json["started"] is True, res.stdout
    plist = home / "Library/LaunchAgents/com.claude-night-pilot.daemon.plist"
    assert plistlib.loads(plist.read_bytes())["ProgramArguments"][-1] == "daemon"
    uid = os.getuid()
    assert f"bootstrap gui/{uid} {plist}" in log.read_text()
    status = cnp("service", "status", "--format", "json").json
    assert (status["current"], status["active"], status["pid"]) == (True, "running", 42)
    res = cnp("service", "uninstall", "--format", "json")
    assert res.json["stopped"] is True and not plist.exists()
    assert f"bootout gui/{uid}/com.claude-night-pilot.daemon" in log.read_text()


# -- systemd-analyze ----------------------------------------------------------------------------


def test_generated_unit_passes_systemd_analyze_verify(home: Path, tmp_path: Path,
                                                      cnp_home: Path) -> None:
    """The unit `cnp service install` writes, checked by systemd itself (Debian package
    `systemd`). A missing tool fails the test, unless CNP_SKIP_SYSTEMD_VERIFY=1."""
    if SYSTEMD_ANALYZE is None:
        if os.environ.get("CNP_SKIP_SYSTEMD_VERIFY") == "1":
            pytest.skip("CNP_SKIP_SYSTEMD_VERIFY=1: systemd-analyze is not installed")
        pytest.fail("systemd-analyze is not installed (Debian: apt-get install systemd); "
                    "set CNP_SKIP_SYSTEMD_VERIFY=1 to skip this check")
    analyze = SYSTEMD_ANALYZE
    assert cnp("service", "install").exit_code == 0
    unit = unit_file(home)
    # verify checks that ExecStart's program exists: the unit runs this installation's cnp.
    [exec_start] = [ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    assert Path(exec_start.removeprefix("ExecStart=").split()[0]).is_file()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg"),
           "XDG_RUNTIME_DIR": str(runtime), "PATH": "/usr/bin:/bin", "SYSTEMD_PAGER": ""}

    def verify(path: Path) -> tuple[int, list[str]]:
        proc = subprocess.run([analyze, "--user", "verify", str(path)], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        # verify exits 0 on unknown keys and bad values too ("..., ignoring"), so every
        # line it prints about the unit counts as a failure.
        lines = (proc.stdout + proc.stderr).splitlines()
        return proc.returncode, [ln for ln in lines if svc.UNIT_NAME in ln]

    assert verify(unit) == (0, [])
    # The check has teeth here: a missing program and an unknown setting are both reported.
    broken = tmp_path / "broken" / svc.UNIT_NAME
    broken.parent.mkdir()
    broken.write_text(unit.read_text().replace("ExecStart=/", "ExecStart=/nonexistent/")
                      .replace("KillMode=mixed", "KillMode=mixed\nKillModeTypo=1"))
    _code, complaints = verify(broken)
    assert any("nonexistent" in c for c in complaints), complaints
    assert any("KillModeTypo" in c for c in complaints), complaints


def test_install_with_web_runs_the_dashboard_under_the_service(home: Path,
                                                              cnp_home: Path) -> None:
    preview = cnp("service", "install", "--print", "--web", "--format", "json").json
    assert preview["command"][-2:] == ["daemon", "--web"] and preview["web"] is True
    assert " daemon --web\n" in preview["unit"]
    res = cnp("service", "install", "--web")
    assert res.exit_code == 0, res.stderr
    assert "daemon --web" in res.stdout
    assert any(line.startswith("ExecStart=") and line.endswith(" daemon --web")
               for line in unit_file(home).read_text().splitlines())
    status = cnp("service", "status", "--format", "json").json
    assert status["current"] is True and status["command"][-1] == "--web"
    plain = cnp("service", "install", "--format", "json").json  # without --web: back to plain
    assert plain["unit_changed"] is True and plain["command"][-1] == "daemon"


def test_install_names_the_claude_variables_the_service_would_not_see(
        home: Path, cnp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "http://user:hunter2@proxy.example:3128"
    monkeypatch.setenv("HTTPS_PROXY", secret)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gateway.example/hunter2")
    monkeypatch.setenv("CLAUDE_CODE_USE_BEDROCK", "1")
    monkeypatch.setenv("UNRELATED_SETTING", "x")
    res = cnp("service", "install")
    assert res.exit_code == 0, res.stderr
    assert "hunter2" not in res.stdout + res.stderr
    notice = next(line for line in res.stdout.splitlines() if "not for the service" in line)
    for name in ("ANTHROPIC_BASE_URL", "CLAUDE_CODE_USE_BEDROCK", "HTTPS_PROXY"):
        assert name in notice and f"--env {name}" in notice
    assert "UNRELATED_SETTING" not in notice
    data = cnp("service", "install", "--format", "json").json
    assert {"ANTHROPIC_BASE_URL", "CLAUDE_CODE_USE_BEDROCK", "HTTPS_PROXY"} <= set(
        data["unseen_variables"])
    assert "UNRELATED_SETTING" not in data["unseen_variables"]
    # --env carries one over into the environment file, value and all, printing only names.
    preview = cnp("service", "install", "--print", "--env", "HTTPS_PROXY", "--format", "json")
    assert "hunter2" not in preview.stdout
    assert 'HTTPS_PROXY="***"' in preview.json["env_file_contents"]
    res = cnp("service", "install", "--env", "HTTPS_PROXY", "--env", "ANTHROPIC_BASE_URL",
              "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert "hunter2" not in res.stdout
    assert res.json["env_file_action"] == "updated"
    assert res.json["carried"] == ["HTTPS_PROXY", "ANTHROPIC_BASE_URL"]
    unseen = res.json["unseen_variables"]
    assert "CLAUDE_CODE_USE_BEDROCK" in unseen
    assert "HTTPS_PROXY" not in unseen and "ANTHROPIC_BASE_URL" not in unseen
    values = svc.parse_env_text((cnp_home / "service.env").read_text())
    assert values["HTTPS_PROXY"] == secret
    assert values["ANTHROPIC_BASE_URL"] == "https://gateway.example/hunter2"
    assert stat.S_IMODE((cnp_home / "service.env").stat().st_mode) == 0o600
    missing = cnp("service", "install", "--env", "NOT_SET_ANYWHERE")
    assert missing.exit_code == 1 and "not set in this shell" in missing.stderr
    assert cnp("service", "install", "--env", "PATH").exit_code == 1
