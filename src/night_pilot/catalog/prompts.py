"""Prompts as the user defines them: their content checked, read from files or bytes, created,
edited, and exported to or imported from a JSON document.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..models import Prompt
from ..store import Store

EXPORT_FORMAT = "claude-night-pilot/prompts"
EXPORT_VERSION = 1


def check_content(content: str, source: str = "the prompt") -> str:
    if not content.strip():
        raise InvalidInput(f"{source} is empty", hint="a prompt needs some non-whitespace text")
    return content


def decode_prompt_bytes(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{source} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="save the prompt as UTF-8",
        ) from exc


def read_prompt_file(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read prompt file {path}: {exc.strerror or exc}") from exc
    return check_content(decode_prompt_bytes(data, f"prompt file {path}"), f"prompt file {path}")


def parse_tags(text: str | None) -> list[str]:
    if not text:
        return []
    tags: list[str] = []
    for raw in text.split(","):
        tag = raw.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def make_prompt(title: str, content: str, tags: list[str]) -> Prompt:
    if not title.strip():
        raise InvalidInput("the prompt title is empty")
    return Prompt(title=title.strip(), content=check_content(content), tags=tags)


def create_prompt(store: Store, prompt: Prompt, now: datetime) -> Prompt:
    [prompt_id] = store.prompts.insert_many([prompt], now)
    return store.prompts.get(prompt_id)


def edit_prompt(
    store: Store,
    prompt_id: int,
    now: datetime,
    *,
    title: str | None = None,
    content: str | None = None,
    tags: list[str] | None = None,
) -> Prompt:
    current = store.prompts.get(prompt_id)
    updated = make_prompt(
        title if title is not None else current.title,
        content if content is not None else current.content,
        tags if tags is not None else current.tags,
    )
    return store.prompts.update(replace(updated, id=prompt_id), now)


def export_prompts(store: Store) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "prompts": [
            {"id": p.id, "title": p.title, "content": p.content, "tags": p.tags}
            for p in store.prompts.all()
        ],
    }


def parse_prompt_export(text: str, source: str) -> list[Prompt]:
    """Read an export document; every prompt is checked before anything is stored."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} is not JSON: {exc}") from exc
    items = doc.get("prompts") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise InvalidInput(f"{source}: expected a list of prompts or {{\"prompts\": [...]}}")
    prompts = []
    for index, item in enumerate(items):
        where = f"{source}: prompt #{index + 1}"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} is not an object")
        title, content, tags = item.get("title"), item.get("content"), item.get("tags", [])
        if not isinstance(title, str) or not isinstance(content, str):
            raise InvalidInput(f"{where} needs string fields 'title' and 'content'")
        if isinstance(tags, str):
            tags = parse_tags(tags)
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(f"{where}: 'tags' must be a list of strings")
        try:
            prompts.append(make_prompt(title, content, tags))
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}") from exc
    return prompts
