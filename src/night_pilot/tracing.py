"""Structured events at the key points of a run's life (register, trigger, claim, spawn,
result, persist, …), as `logging` records carrying job id, run id and attempt.

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
_KEYS = ("job_id", "run_id", "attempt")


def trace(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Emit one structured event, e.g. `trace("claim", job_id=1, execution_id=7, attempt=1)`.

    With the `otel` extra installed and OTEL_TRACES_EXPORTER (or an OTLP endpoint) set, the
    same event is also an OpenTelemetry span carrying the fields as attributes.
    """
    tracer = _otel_tracer()
    if tracer is not None:
        attributes = {f"cnp.{k}": v if isinstance(v, (bool, int, float, str)) else str(v)
                      for k, v in fields.items() if v is not None}
        tracer.start_span(f"cnp.{event}", attributes=attributes).end()
    if not log.isEnabledFor(level):
        return
    log.log(level, event, extra={"cnp_event": event, "cnp_fields": fields})


_OTEL: list[Any] = []  # [tracer or None], decided once per process


def _otel_tracer() -> Any:
    if _OTEL:
        return _OTEL[0]
    _OTEL.append(_configure_otel())
    return _OTEL[0]


def _configure_otel() -> Any:
    """A tracer set up from the standard OTEL_* variables, or None when not asked for or the
    `otel` extra is not installed (checked without importing it, to keep start-up cheap)."""
    import os

    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if not exporter_name and (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                              or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        exporter_name = "otlp"
    if exporter_name in ("", "none"):
        return None
    try:
        from opentelemetry import trace as otel_trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        log.warning("OTEL_TRACES_EXPORTER is set but the otel extra is not installed "
                    "(pip install 'claude-night-pilot[otel]')")
        return None
    import atexit
    import sys

    provider = TracerProvider(resource=Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME", "claude-night-pilot")}))
    for name in exporter_name.split(","):
        name = name.strip()
        if name == "console":
            # stderr: stdout carries the command's own output (one JSON document).
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            log.warning("unsupported OTEL_TRACES_EXPORTER %r (use otlp or console)", name)
    otel_trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)
    return otel_trace.get_tracer("night_pilot")


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
