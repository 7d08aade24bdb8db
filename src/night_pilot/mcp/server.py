"""`cnp mcp`: the tools of `tools.py` served over stdio with the official MCP SDK (the `mcp`
extra, imported by this module alone).

One store, opened on the database the command line would use, serves every call. A tool's
answer is its JSON document, as text and as structured content; a `CnpError` (bad input, an
unknown id, a refused risk, a changed request) is a tool error (`isError`) whose text names
the problem and whose structured content is the error document of `cnp --format json`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from .. import __version__
from ..errors import CnpError
from ..store import Store
from . import tools

NAME = "night-pilot"
INSTRUCTIONS = (
    "Claude Night Pilot (cnp) runs Claude Code prompts unattended on cron schedules, with "
    "every run recorded. Use create_job when the user wants something done on a schedule "
    "(every night, every Monday) that must happen whether or not a Claude session is open; "
    "it answers a dry run first, which you show the user before confirming it."
)


def _listing() -> list[types.Tool]:
    return [
        types.Tool(
            name=t.name, description=t.help, input_schema=t.input_schema(),
            annotations=types.ToolAnnotations(read_only_hint=t.read_only,
                                              destructive_hint=False),
        )
        for t in tools.TOOLS.values()
    ]


def _text(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def answer(store: Store, name: str, arguments: dict[str, Any] | None, now: datetime,
           cwd: Path) -> types.CallToolResult:
    """One tool call as its MCP result."""
    try:
        data = tools.call(name, store, arguments, now, cwd)
    except CnpError as exc:
        error = exc.to_dict()
        lines = [f"Error: {exc.message}"]
        if exc.hint:
            lines.append(f"Hint: {exc.hint}")
        if "dry_run" in error:
            lines.append(f"New dry run: {_text(error['dry_run'])}")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="\n".join(lines))],
            structured_content=json.loads(json.dumps(error, default=str)), is_error=True)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=_text(data))],
        structured_content=json.loads(json.dumps(data, default=str)))


def build(store: Store, cwd: Path) -> Server[Any]:
    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_listing())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return answer(store, params.name, params.arguments, datetime.now(UTC), cwd)

    return Server(NAME, version=__version__, instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def serve(store: Store, cwd: Path) -> None:
    """Serve until the client closes stdin."""
    server = build(store, cwd)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
