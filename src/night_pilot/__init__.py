"""Claude Night Pilot: run Claude Code prompts unattended on schedules, every run recorded.

The package is layered: edges (cli, daemon, web) import services, services import storage and
the domain, and nothing imports the edges. See docs/architecture.md.
"""

__version__ = "0.1.0"
