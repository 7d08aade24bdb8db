"""`cnp prompt …`: create, list, show, edit, delete, export and import prompts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from .. import catalog
from ..errors import InvalidInput
from .app import Env, cli, common, echo, pass_env
from .output import emit, fields, prompt_dict, stdin_text, table


@cli.group()
def prompt() -> None:
    """Prompts: the text a job sends to Claude."""


def _content(content: str | None, file: str | None, stdin: bool) -> str:
    given = [x for x in (content is not None, file is not None, stdin) if x]
    if len(given) != 1:
        raise InvalidInput("give the prompt text exactly once: as CONTENT, --file F or --stdin")
    if file is not None:
        return catalog.read_prompt_file(file)
    if stdin:
        text = catalog.decode_prompt_bytes(stdin_text(), "standard input")
        return catalog.check_content(text, "the prompt on standard input")
    assert content is not None
    return catalog.check_content(content)


@prompt.command("create")
@click.argument("title", help="A short name for the prompt.")
@click.argument("content", required=False, help="The prompt text (or give --file or --stdin).")
@click.option("--file", "file", metavar="F", help="Read the prompt text from a UTF-8 file.")
@click.option("--stdin", is_flag=True, help="Read the prompt text from standard input.")
@click.option("--tags", metavar="A,B", help="Comma-separated tags.")
@common
@pass_env
def prompt_create(
    env: Env, title: str, content: str | None, file: str | None, stdin: bool, tags: str | None
) -> None:
    """Store a new prompt."""
    p = catalog.make_prompt(title, _content(content, file, stdin), catalog.parse_tags(tags))
    created = catalog.create_prompt(env.store(), p, datetime.now(UTC))
    emit(env.fmt, prompt_dict(created), lambda: echo(f"Created prompt {created.id}"))


@prompt.command("list")
@click.option("--tag", help="Only prompts with this tag.")
@common
@pass_env
def prompt_list(env: Env, tag: str | None) -> None:
    """List prompts."""
    prompts = env.store().prompts.all(tag)
    emit(
        env.fmt,
        {"prompts": [prompt_dict(p) for p in prompts]},
        lambda: table(
            ["id", "title", "tags", "length", "updated"],
            [
                (p.id, p.title, p.tags, len(p.content), p.updated_at and p.updated_at.date())
                for p in prompts
            ],
        ),
    )


@prompt.command("show")
@click.argument("prompt_id", type=int, help="The prompt's id (see `cnp prompt list`).")
@common
@pass_env
def prompt_show(env: Env, prompt_id: int) -> None:
    """Show one prompt in full."""
    p = env.store().prompts.get(prompt_id)

    def pretty() -> None:
        fields([("id", p.id), ("title", p.title), ("tags", p.tags),
                ("created", p.created_at), ("updated", p.updated_at)])
        echo("")
        echo(p.content)

    emit(env.fmt, prompt_dict(p), pretty)


@prompt.command("edit")
@click.argument("prompt_id", type=int, help="The prompt's id (see `cnp prompt list`).")
@click.option("--title", help="New title.")
@click.option("--content", help="New text.")
@click.option("--file", "file", metavar="F", help="New text from a UTF-8 file.")
@click.option("--stdin", is_flag=True, help="New text from standard input.")
@click.option("--tags", metavar="A,B", help="Replace the tags (empty string clears them).")
@common
@pass_env
def prompt_edit(
    env: Env,
    prompt_id: int,
    title: str | None,
    content: str | None,
    file: str | None,
    stdin: bool,
    tags: str | None,
) -> None:
    """Change a prompt's title, text or tags; given none of them, edit its text in $EDITOR.

    Example: cnp prompt edit 3 --title "Nightly review"   (or just: cnp prompt edit 3)
    """
    new_content = None
    if content is not None or file is not None or stdin:
        new_content = _content(content, file, stdin)
    if title is None and new_content is None and tags is None:
        new_content = _in_editor(env, prompt_id)
        if new_content is None:
            emit(env.fmt, {**prompt_dict(env.store().prompts.get(prompt_id)), "changed": False},
                 lambda: echo(f"Prompt {prompt_id} unchanged (the editor saved nothing new)"))
            return
    p = catalog.edit_prompt(
        env.store(), prompt_id, datetime.now(UTC), title=title, content=new_content,
        tags=catalog.parse_tags(tags) if tags is not None else None,
    )
    emit(env.fmt, prompt_dict(p), lambda: echo(f"Updated prompt {p.id}"))


def _in_editor(env: Env, prompt_id: int) -> str | None:
    """The prompt's text as edited in $VISUAL or $EDITOR (None: left as it was)."""
    import os
    import sys

    current = env.store().prompts.get(prompt_id).content
    if not (os.environ.get("VISUAL") or os.environ.get("EDITOR")) and not sys.stdin.isatty():
        raise InvalidInput("nothing to change: give --title, --content/--file/--stdin or "
                           "--tags", hint="or set $EDITOR to edit the text in an editor")
    edited = click.edit(current, extension=".md", require_save=False)
    if edited is not None and not current.endswith("\n") and edited.endswith("\n"):
        edited = edited[:-1]  # the line break click adds for the editor
    if edited is None or edited == current:
        return None
    return catalog.check_content(edited)


@prompt.command("delete")
@click.argument("prompt_id", type=int, help="The prompt's id (see `cnp prompt list`).")
@common
@pass_env
def prompt_delete(env: Env, prompt_id: int) -> None:
    """Delete a prompt (refused while jobs use it)."""
    env.store().prompts.delete(prompt_id, datetime.now(UTC))
    emit(env.fmt, {"id": prompt_id, "deleted": True},
         lambda: echo(f"Deleted prompt {prompt_id}"))


@prompt.command("export")
@click.option("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.")
@common
@pass_env
def prompt_export(env: Env, output: str | None) -> None:
    """Export every prompt as JSON."""
    doc = catalog.export_prompts(env.store())
    if output:
        Path(output).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        emit(env.fmt, {"path": output, "count": len(doc["prompts"])},
             lambda: echo(f"Exported {len(doc['prompts'])} prompts to {output}"))
    else:
        echo(json.dumps(doc, indent=2, ensure_ascii=False))


@prompt.command("import")
@click.argument("file", help="An export file (from `cnp prompt export`), or - for standard input.")
@common
@pass_env
def prompt_import(env: Env, file: str) -> None:
    """Import prompts from an export file (all of them, or none if any is invalid)."""
    if file == "-":
        text = catalog.decode_prompt_bytes(stdin_text(), "standard input")
    else:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from exc
        text = catalog.decode_prompt_bytes(data, file)
    prompts = catalog.parse_prompt_export(text, file)
    ids = env.store().prompts.insert_many(prompts, datetime.now(UTC))
    emit(env.fmt, {"imported": len(ids), "ids": ids},
         lambda: echo(f"Imported {len(ids)} prompts: {', '.join(map(str, ids)) or '-'}"))
