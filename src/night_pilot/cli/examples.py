"""An example for every command's --help, by command path: shown as the help's epilog (see
`with_example` in app.py; the top-level `cnp`'s is in its docstring), kept in one table so
that a test can hold every command to it."""

from __future__ import annotations

EXAMPLES: dict[str, list[str]] = {
    "init": ["cnp init --db ~/night.db"],
    "status": ["cnp status --format json"],
    "health": ["cnp health --fast"],
    "audit": ["cnp audit --job 1 --verify"],
    "batch": ["cnp batch --file prompts.txt --concurrent 3"],
    "completion": ['eval "$(cnp completion bash)"'],
    "cooldown": ["cnp cooldown --watch"],
    "cooldown clear": ["cnp cooldown clear"],
    "daemon": ["cnp daemon --web --concurrency 2"],
    "execute": ['cnp execute --prompt "Summarize README.md" --timeout 10m'],
    "quota": ["cnp quota --format json"],
    "quota plan": ["cnp quota plan"],
    "runs": ["cnp runs --job 1 --status failed --wide"],
    "run": ["cnp run show 7 --events"],
    "run list": ["cnp run list --job 1 --limit 5"],
    "run show": ["cnp run show 7 --events"],
    "run cancel": ["cnp run cancel 7"],
    "executions": ["cnp executions --job 1 --status failed --wide"],
    "execution": ["cnp execution show 7 --events"],
    "execution list": ["cnp execution list --job 1 --limit 5"],
    "execution show": ["cnp execution show 7 --events"],
    "execution cancel": ["cnp execution cancel 7"],
    "import": ["cnp import claude-code ~/src/app --dry-run"],
    "import claude-code": ["cnp import claude-code ~/src/app --dry-run"],
    "job": ["cnp job list"],
    "job create": ['cnp job create 1 "0 3 * * *" --tz Europe/Berlin --timeout 30m'],
    "job delete": ["cnp job delete 2"],
    "job edit": ['cnp job edit 1 --cron "30 2 * * *" --timeout 45m --dry-run'],
    "job list": ["cnp job list --all"],
    "job next": ["cnp job next 1 -n 10"],
    "job pause": ["cnp job pause 1"],
    "job resume": ["cnp job resume 1"],
    "job show": ["cnp job show 1 --format json"],
    "job trigger": ["cnp job trigger 1 --wait"],
    "mcp": ["claude mcp add night-pilot -- cnp mcp"],
    "mcp install": ["cnp mcp install --user"],
    "migrate": ["cnp migrate copy --to postgresql://cnp@db.local/cnp --dry-run"],
    "migrate copy": ["cnp migrate copy --to postgresql://cnp@db.local/cnp --dry-run"],
    "migrate legacy": ["cnp migrate legacy ~/old/night-pilot.db --dry-run"],
    "web": ["cnp web link"],
    "web link": ["cnp web link --url http://127.0.0.1:8765"],
    "notify": ['cnp notify add "json://localhost:8080/hook" --on failure'],
    "notify add": ['cnp notify add "json://localhost:8080/hook" --job 1 --on failure,missed'],
    "notify list": ["cnp notify list"],
    "notify remove": ["cnp notify remove 3"],
    "notify test": ['cnp notify test "json://localhost:8080/hook"'],
    "prompt": ["cnp prompt list --tag review"],
    "prompt create": ['cnp prompt create "Nightly review" "Review yesterday\'s commits."'],
    "prompt delete": ["cnp prompt delete 2"],
    "prompt edit": ["cnp prompt edit 1 --file review.md"],
    "prompt export": ["cnp prompt export -o prompts.json"],
    "prompt import": ["cnp prompt import prompts.json"],
    "prompt list": ["cnp prompt list --tag review"],
    "prompt show": ["cnp prompt show 1"],
    "serve": ["cnp serve --port 8765"],
    "service": ["cnp service install --print"],
    "service install": ["cnp service install --print"],
    "service status": ["cnp service status"],
    "service uninstall": ["cnp service uninstall"],
    "session": ["cnp session list --job 1"],
    "session list": ["cnp session list --job 1"],
    "session show": ["cnp session show 3f2a"],
    "usage": ["cnp usage --since 2026-12-01 --tz Europe/Berlin"],
    "usage blocks": ["cnp usage blocks --since 2026-12-01"],
    "usage daily": ["cnp usage daily --since 2026-12-01 --format csv"],
    "usage import": ["cnp usage import --path ~/.claude"],
    "usage jobs": ["cnp usage jobs --since 2026-12-01"],
    "usage monthly": ["cnp usage monthly --format json"],
    "usage session": ["cnp usage session --since 2026-12-01"],
    "worktree": ["cnp worktree list --job 1"],
    "worktree clean": ["cnp worktree clean --dry-run"],
    "worktree list": ["cnp worktree list --all"],
}


def epilog(path: str) -> str | None:
    """The example section of the command at `path` ("job create"), if it has one."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    # \b keeps click from rewrapping the lines.
    return "\b\n" + ("Example:" if len(lines) == 1 else "Examples:") + "\n" + "\n".join(
        f"  {line}" for line in lines)
