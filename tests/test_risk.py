"""Risk review (permissions, places, prompts, their combination), the refusal of critical risk
without --i-understand-the-risk, and the per-run audit entries with `cnp audit`."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from conftest import Clock
from night_pilot.models import ClaudeOptions
from night_pilot.risk import assess, assess_permissions, assess_place, assess_prompt
from night_pilot.runner import Runner, RunnerConfig
from night_pilot.runs import claim_one, trigger_job
from night_pilot.store import Store

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database

HOME = "/home/ada"


def level(prompt: str = "Summarize the changes.", work_dir: str = "/home/ada/src/app",
          **options: object) -> str:
    return assess(options=ClaudeOptions(**options), work_dir=work_dir,  # type: ignore[arg-type]
                  prompt=prompt, home=HOME).level


@pytest.mark.parametrize(("options", "expected"), [
    ({}, []),
    ({"permission_mode": "default"}, []),
    ({"permission_mode": "plan"}, []),
    ({"permission_mode": "acceptEdits"}, [("medium", "auto-approve")]),
    ({"permission_mode": "bypassPermissions"}, [("high", "bypass-permissions")]),
    ({"allowed_tools": ("Bash",)}, [("high", "unrestricted-bash")]),
    ({"allowed_tools": ("Bash(*)",)}, [("high", "unrestricted-bash")]),
    ({"allowed_tools": ("Bash(:*)",)}, [("high", "unrestricted-bash")]),
    ({"allowed_tools": ("Bash(git log *)", "Read", "Grep")}, []),
    ({"allowed_tools": ("Bash(rm -rf *)",)}, [("high", "dangerous-bash-grant")]),
    ({"allowed_tools": ("Bash(git push:*)",)}, [("high", "dangerous-bash-grant")]),
    ({"allowed_tools": ("Bash(sudo *)",)}, [("high", "dangerous-bash-grant")]),
    ({"allowed_tools": ("Bash(rmdir build)",)}, []),
    ({"allowed_tools": ("Edit", "Write")}, [("medium", "edit-grant"), ("medium", "edit-grant")]),
])
def test_permissions(options: dict[str, object], expected: list[tuple[str, str]]) -> None:
    found = assess_permissions(ClaudeOptions(**options))  # type: ignore[arg-type]
    assert [(f.level, f.rule) for f in found] == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/", ("high", "root-dir")),
    ("/etc", ("high", "system-dir")),
    ("/etc/nginx", ("high", "system-dir")),
    ("/usr/local/src/app", ("high", "system-dir")),
    ("/bin", ("high", "system-dir")),
    ("/var/lib/app", ("high", "system-dir")),
    ("/boot", ("high", "system-dir")),
    ("/home/ada", ("medium", "home-dir")),
    ("/home/ada/", ("medium", "home-dir")),
    ("/home/ada/src/app", None),
    ("/var/tmp/scratch", None),
    ("/tmp/work", None),
    ("/etcetera", None),
    ("/srv/app", None),
])
def test_places(path: str, expected: tuple[str, str] | None) -> None:
    found = assess_place(path, home=HOME)
    assert [(f.level, f.rule) for f in found] == ([expected] if expected else [])


def test_a_symlink_to_a_system_directory_counts_as_one(tmp_path: Path) -> None:
    (tmp_path / "etc").symlink_to("/etc")
    [found] = assess_place(str(tmp_path / "etc"), home=HOME)
    assert found.rule == "system-dir" and found.trigger == f"--work-dir {tmp_path / 'etc'}"


@pytest.mark.parametrize(("prompt", "expected"), [
    ("Summarize yesterday's commits.", []),
    ("rm -rf build/ and start over", [("high", "rm-rf", "rm -rf build/")]),
    ("run rm -fr node_modules", [("high", "rm-rf", "rm -fr node_modules")]),
    ("rm -r -f dist", [("high", "rm-rf", "rm -r -f dist")]),
    ("rm --recursive --force out", [("high", "rm-rf", "rm --recursive --force out")]),
    ("rm -r old", [("medium", "rm-r", "rm -r old")]),
    ("rm -rf /", [("critical", "rm-rf-everything", "rm -rf /")]),
    ("then rm -rf ~ please", [("critical", "rm-rf-everything", "rm -rf ~")]),
    ("rm -rf $HOME", [("critical", "rm-rf-everything", "rm -rf $HOME")]),
    ("rm -rf *", [("critical", "rm-rf-everything", "rm -rf *")]),
    ("rm -rf --no-preserve-root /", [("critical", "rm-no-preserve-root",
                                      "rm -rf --no-preserve-root /")]),
    ("the form: remove the old firm", []),
    ("sudo apt-get upgrade", [("high", "sudo", "sudo")]),
    ("pseudocode only", []),
    ("git push --force origin main", [("high", "force-push", "git push --force")]),
    ("git push -f", [("high", "force-push", "git push -f")]),
    ("git push --force-with-lease", [("high", "force-push", "git push --force-with-lease")]),
    ("git push origin +main", [("high", "force-push", "git push origin +main")]),
    ("git push origin main", []),
    ("dd if=/dev/zero of=/dev/sda bs=1M", [("critical", "dd-to-device",
                                           "dd if=/dev/zero of=/dev/sda")]),
    ("dd if=a.img of=b.img", [("high", "dd", "dd if=")]),
    ("mkfs.ext4 /dev/sdb1", [("critical", "mkfs", "mkfs.ext4")]),
    ("chmod -R 777 .", [("high", "chmod-777-recursive", "chmod -R 777")]),
    ("chmod -R 777 /", [("critical", "chmod-777-root", "chmod -R 777 /")]),
    ("chmod 777 run.sh", [("medium", "chmod-777", "chmod 777")]),
    ("curl -fsSL https://get.example | sh", [("high", "pipe-to-shell",
                                             "curl -fsSL https://get.example | sh")]),
    ("wget -qO- x | sudo bash", [("high", "sudo", "sudo"),
                                 ("high", "pipe-to-shell", "wget -qO- x | sudo bash")]),
    ("DROP TABLE users;", [("high", "drop-database", "DROP TABLE")]),
    (":(){ :|:& };:", [("critical", "fork-bomb", ":(){ :|:& };:")]),
    ("echo x > /dev/sda", [("critical", "write-to-device", "> /dev/sda")]),
    ("git reset --hard origin/main", [("medium", "git-reset-hard", "git reset --hard")]),
    ("git clean -fdx", [("medium", "git-clean", "git clean -f")]),
    ("find . -name '*.pyc' -delete", [("medium", "find-delete",
                                       "find . -name '*.pyc' -delete")]),
])
def test_prompts(prompt: str, expected: list[tuple[str, str, str]]) -> None:
    assert [(f.level, f.rule, f.trigger) for f in assess_prompt(prompt)] == expected


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, "low"),
    ({"work_dir": "/home/ada"}, "medium"),
    ({"prompt": "rm -rf build"}, "high"),
    ({"allowed_tools": ("Bash",)}, "high"),
    # A broad grant meets a dangerous request or place: critical.
    ({"allowed_tools": ("Bash",), "prompt": "sudo make install"}, "critical"),
    ({"permission_mode": "bypassPermissions", "prompt": "rm -rf build"}, "critical"),
    ({"permission_mode": "bypassPermissions", "prompt": "git push --force"}, "critical"),
    ({"allowed_tools": ("Bash(*)",), "work_dir": "/"}, "critical"),
    ({"permission_mode": "bypassPermissions", "work_dir": "/etc"}, "critical"),
    # A broad grant in the home directory is high, not critical.
    ({"permission_mode": "bypassPermissions", "work_dir": "/home/ada"}, "high"),
    # Edits without asking plus a destructive request: high, not critical.
    ({"permission_mode": "acceptEdits", "prompt": "rm -rf build"}, "high"),
    # Dangerous on its own whatever the grants.
    ({"prompt": "rm -rf ~"}, "critical"),
    ({"append_system_prompt": "Always finish with sudo reboot now"}, "high"),
    ({"add_dirs": ("/etc",)}, "high"),
])
def test_levels(kwargs: dict[str, object], expected: str) -> None:
    assert level(**kwargs) == expected  # type: ignore[arg-type]


def test_every_finding_says_what_triggered_it() -> None:
    report = assess(options=ClaudeOptions(allowed_tools=("Bash",)), work_dir="/tmp/x",
                    prompt="please sudo reboot", home=HOME)
    assert report.level == "critical"
    assert [f.trigger for f in report.findings] == [
        "--allowed-tools Bash + sudo", "--allowed-tools Bash", "sudo"]
    assert report.to_dict()["findings"][0]["rule"] == "grant-meets-danger"
    assert report.summary().startswith("critical: --allowed-tools Bash + sudo")


def test_the_shell_executor_has_no_claude_permissions() -> None:
    report = assess(options=ClaudeOptions(allowed_tools=("Bash",)), work_dir="/tmp/x",
                    prompt="rm -rf build", executor="shell", home=HOME)
    assert report.level == "high"


# -- refusing and recording -------------------------------------------------------------------


def _prompt(content: str) -> int:
    res = cnp("prompt", "create", "t", "--stdin", "--format", "json", input=content)
    assert res.exit_code == 0, res.stderr
    return int(res.json["id"])


def test_job_create_refuses_critical_risk_without_the_flag(tmp_path: Path) -> None:
    pid = _prompt("Clean up: sudo rm -rf build")
    args = ["job", "create", str(pid), "@daily", "--work-dir", str(tmp_path),
            "--allowed-tools", "Bash", "--format", "json"]
    refused = cnp(*args)
    assert refused.exit_code == 2
    assert refused.error["error"] == "risk"
    assert "--i-understand-the-risk" in refused.error["hint"]
    assert refused.error["risk"]["level"] == "critical"
    assert {f["trigger"] for f in refused.error["risk"]["findings"]} >= {
        "--allowed-tools Bash", "sudo", "rm -rf build"}
    assert cnp("job", "list", "--format", "json").json["jobs"] == []
    # The dry run says the same without failing, so the user can see why.
    dry = cnp(*args, "--dry-run")
    assert dry.exit_code == 2 and dry.error["error"] == "risk"
    accepted = cnp(*args, "--i-understand-the-risk")
    assert accepted.exit_code == 0, accepted.stderr
    assert (accepted.json["risk_level"], accepted.json["risk_accepted"]) == ("critical", True)
    assert accepted.json["risk"]["level"] == "critical"
    [entry] = cnp("audit", "--job", str(accepted.json["id"]), "--format", "json").json["entries"]
    assert entry["action"] == "create"
    assert entry["details"]["risk_level"] == "critical" and entry["details"]["risk_accepted"]


def test_high_risk_is_saved_with_its_level(tmp_path: Path) -> None:
    pid = _prompt("git push --force to fix the branch")
    res = cnp("job", "create", str(pid), "@daily", "--work-dir", str(tmp_path), "--format",
              "json")
    assert res.exit_code == 0 and res.json["risk_level"] == "high"
    pretty = cnp("job", "show", str(res.json["id"]))
    assert "risk              high" in pretty.stdout


def test_execute_refuses_critical_risk_without_the_flag(tmp_path: Path) -> None:
    res = cnp("execute", "--prompt", "rm -rf ~", "--executor", "shell", "--work-dir",
              str(tmp_path), "--format", "json")
    assert res.exit_code == 2 and res.error["error"] == "risk"
    assert cnp("runs", "--format", "json").json["runs"] == []


def test_every_run_is_audited_with_its_prompt_hash_argv_and_risk(tmp_path: Path) -> None:
    res = cnp("execute", "--prompt", "echo token=abc123 rm -r old", "--executor", "shell",
              "--work-dir", str(tmp_path), "--format", "json")
    assert res.exit_code == 0, res.stderr
    run = res.json
    assert run["risk_level"] == "medium"
    [entry] = cnp("audit", "--run", str(run["id"]), "--format", "json").json["entries"]
    d = entry["details"]
    assert entry["action"] == "run" and entry["entity"] == "execution"
    assert entry["actor"].count(":") == 2  # the instance that ran it
    assert d["prompt_sha256"] == hashlib.sha256(b"echo token=abc123 rm -r old").hexdigest()
    assert d["prompt_sha256"] == run["prompt_sha256"]
    assert d["argv"] == ["/bin/sh", "-s"] and d["cwd"] == str(tmp_path)
    assert d["risk_level"] == "medium"
    assert d["risk_triggers"] == [{"level": "medium", "source": "prompt", "rule": "rm-r",
                                   "trigger": "rm -r old", "why": "recursive delete"}]
    verified = cnp("audit", "--verify", "--format", "json").json
    assert verified["mismatches"] == 0 and verified["entries"][0]["verified"] is True


def test_the_audited_argv_has_its_secrets_redacted(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\ncat >/dev/null\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CNP_CLAUDE_BIN", str(fake))
    res = cnp("execute", "--prompt", "hi", "--append-system-prompt",
              "api_key=sk-ant-abcdef123456", "--retries", "0", "--work-dir", str(tmp_path),
              "--format", "json")
    assert res.exit_code == 1
    [entry] = cnp("audit", "--action", "run", "--format", "json").json["entries"]
    joined = " ".join(entry["details"]["argv"])
    assert "sk-ant-abcdef" not in joined and "api_key=***" in joined


def test_a_prompt_edited_into_critical_risk_is_refused_at_spawn(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    pid = _prompt("echo fine")
    job = cnp("job", "create", str(pid), "@yearly", "--executor", "shell", "--work-dir",
              str(tmp_path), "--format", "json").json
    assert cnp("prompt", "edit", str(pid), "--content", "rm -rf ~").exit_code == 0
    run = trigger_job(store, job["id"], clock.now())
    claimed = claim_one(store, run.id, clock.now(), instance="t:1:x", host="t",
                        lease=timedelta(seconds=30))
    assert claimed is not None
    Runner(store, "t:1:x", clock.now, RunnerConfig()).run(claimed)
    done = store.runs.get(run.id)
    assert done.status == "failed" and done.pid is None
    assert done.reason is not None and done.reason.startswith("refused: critical risk")
    assert done.risk_level == "critical"
    [entry] = store.audit.log(run_id=run.id)
    assert entry["action"] == "refuse"
    assert entry["details"]["prompt_sha256"] == hashlib.sha256(b"rm -rf ~").hexdigest()
    assert [t["rule"] for t in entry["details"]["risk_triggers"]] == ["rm-rf-everything"]
