"""`cnp init` and `cnp status`: the database itself."""

from __future__ import annotations

import click

from ..config import resolve_db
from .app import Env, cli, common, pass_env
from .output import emit, fields


@cli.command()
@common
@pass_env
def init(env: Env) -> None:
    """Create the database (or migrate an existing one) and say where it is."""
    location = resolve_db(env.db)
    existed = location.path.exists() if location.path is not None else True
    store = env.store()
    data = {
        "database": location.display(),
        "created": not existed,
        "schema_version": store.schema_version(),
    }

    def pretty() -> None:
        verb = "Created" if data["created"] else "Using existing"
        click.echo(f"{verb} database {data['database']} (schema version {data['schema_version']})")

    emit(env.fmt, data, pretty)


@cli.command()
@common
@pass_env
def status(env: Env) -> None:
    """Where the database is, its schema version, and what it holds."""
    store = env.store()
    data = {
        "database": resolve_db(env.db).display(),
        "schema_version": store.schema_version(),
        "counts": store.counts(),
    }

    def pretty() -> None:
        counts = data["counts"]
        assert isinstance(counts, dict)
        fields(
            [("database", data["database"]), ("schema version", data["schema_version"])]
            + [(k.replace("_", " "), v) for k, v in counts.items()]
        )

    emit(env.fmt, data, pretty)
