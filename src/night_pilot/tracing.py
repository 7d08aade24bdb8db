"""Structured events at the key points of a run's life (register, trigger, claim, spawn,
result, persist, …), as `logging` records carrying job id, execution id and attempt.

Services call `trace`; edges decide where records go and in which format (text or JSON).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "night_pilot"
log = logging.getLogger(LOGGER_NAME)

# Fields every trace record may carry, in the order the text format prints them.
_KEYS = ("job_id", "execution_id", "attempt")


def trace(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Emit one structured event, e.g. `trace("claim", job_id=1, execution_id=7, attempt=1)`."""
    if not log.isEnabledFor(level):
        return
    log.log(level, event, extra={"cnp_event": event, "cnp_fields": fields})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": getattr(record, "cnp_event", None) or record.getMessage(),
        }
        data.update(getattr(record, "cnp_fields", {}))
        if not hasattr(record, "cnp_event"):
            data["logger"] = record.name
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        fields: dict[str, Any] = dict(getattr(record, "cnp_fields", {}))
        head = [f"{k}={fields.pop(k)}" for k in _KEYS if k in fields]
        rest = [f"{k}={v}" for k, v in fields.items()]
        text = " ".join([ts, record.levelname.lower().ljust(7), record.getMessage(), *head, *rest])
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure(fmt: str = "text", level: str = "info", stream: Any = None,
              file: str | None = None) -> None:
    """Route the project's records to stderr (and optionally a rotated file)."""
    import logging.handlers

    root = logging.getLogger(LOGGER_NAME)
    root.setLevel(level.upper())
    for old in list(root.handlers):
        root.removeHandler(old)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler: logging.Handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    if file:
        rotating = logging.handlers.RotatingFileHandler(
            file, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8")
        rotating.setFormatter(JsonFormatter())
        root.addHandler(rotating)
    root.propagate = False
