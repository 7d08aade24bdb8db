"""Queries for prompts: the texts jobs run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, NotFound
from .audit import record
from .queries import Queries, new_id
from .timefmt import from_db, to_db

if TYPE_CHECKING:
    # Imported where rows become objects: the dataclasses machinery is ~20 ms of start-up.
    from ..models import Prompt


# A prompt's tags with a comma on each side, so that `,tag,` finds a whole tag.
_TAGS = "',' || tags || ','"


class PromptQueries(Queries):
    def insert_many(self, prompts: Sequence[Prompt], now: datetime,
                    actor: str = "cli") -> list[int]:
        """Store prompts in one transaction: all of them or none."""
        ids = []
        with self.write() as db:
            for p in prompts:
                prompt_id = new_id(db.execute(
                    "INSERT INTO prompts (title, content, tags, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (p.title, p.content, ",".join(p.tags), to_db(now), to_db(now)),
                ))
                ids.append(prompt_id)
                record(db, now, "create", "prompt", prompt_id, {"title": p.title}, actor)
        return ids

    def get(self, prompt_id: int) -> Prompt:
        row = self.db.execute("SELECT * FROM prompts WHERE id = ?", (prompt_id,)).fetchone()
        if row is None:
            raise NotFound(f"prompt {prompt_id} does not exist")
        return _prompt(row)

    def all(self, tag: str | None = None) -> list[Prompt]:
        if tag:
            rows = self.db.execute(
                "SELECT * FROM prompts"
                f" WHERE {self.dialect.contains(_TAGS, '?')} ORDER BY id",
                (f",{tag},",),
            )
        else:
            rows = self.db.execute("SELECT * FROM prompts ORDER BY id")
        return [_prompt(r) for r in rows]

    def update(self, prompt: Prompt, now: datetime) -> Prompt:
        with self.write() as db:
            cur = db.execute(
                "UPDATE prompts SET title = ?, content = ?, tags = ?, updated_at = ?"
                " WHERE id = ?",
                (prompt.title, prompt.content, ",".join(prompt.tags), to_db(now), prompt.id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"prompt {prompt.id} does not exist")
            record(db, now, "update", "prompt", prompt.id, {"title": prompt.title})
        assert prompt.id is not None
        return self.get(prompt.id)

    def delete(self, prompt_id: int, now: datetime) -> None:
        with self.write() as db:
            if db.execute("SELECT 1 FROM prompts WHERE id = ?", (prompt_id,)).fetchone() is None:
                raise NotFound(f"prompt {prompt_id} does not exist")
            users = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs WHERE prompt_id = ? AND deleted_at IS NULL ORDER BY id",
                    (prompt_id,),
                )
            ]
            if users:
                raise Conflict(
                    f"prompt {prompt_id} is used by job(s) {', '.join(map(str, users))}",
                    hint="delete those jobs first (their run history is kept)",
                )
            # Deleted jobs keep their history but let go of the prompt.
            db.execute(
                "UPDATE jobs SET prompt_id = NULL WHERE prompt_id = ? AND deleted_at IS NOT NULL",
                (prompt_id,),
            )
            db.execute("DELETE FROM prompts WHERE id = ?", (prompt_id,))
            record(db, now, "delete", "prompt", prompt_id)


def _prompt(row: Any) -> Prompt:
    from ..models import Prompt

    return Prompt(
        id=row["id"],
        title=row["title"],
        content=row["content"],
        tags=[t for t in row["tags"].split(",") if t],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )
