"""Claude Code as a client of cnp: an MCP server (`server.py`, the only module that imports the
`mcp` SDK) offering the tools of `tools.py`, and the files that set it up in a project
(`setup.py`: the `.mcp.json` entry, the skill that tells Claude when to use it)."""
