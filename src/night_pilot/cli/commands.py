"""Imports every command module so that each registers its commands on `cli`."""

from . import jobs, prompts, system  # noqa: F401
