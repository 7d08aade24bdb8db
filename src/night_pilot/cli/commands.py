"""Imports every command module so that each registers its commands on `cli`."""

from . import cooldown, jobs, prompts, runs, system  # noqa: F401
