"""Traces out over OTLP/HTTP: recorded turns become OpenTelemetry spans.

Built from ``[telemetry]`` only when ``otlp_endpoint`` is set; the
OpenTelemetry SDK and the OTLP/HTTP (protobuf) exporter are imported then
(``start``, in a thread while the backend opens), never otherwise. Spans go
through a ``BatchSpanProcessor`` (its own thread), so ``export`` only
queues; ``close`` flushes what is queued, for at most ``FLUSH_TIMEOUT_S``.

An unreachable or failing collector must not disturb the user: the SDK's
loggers write to ``logs/telemetry.log`` in the data folder (they do not
propagate, so Python's last-resort handler never prints them on stderr),
and exports give up after ``EXPORT_TIMEOUT_S``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.common.config import TelemetrySettings
from backend.common.tracing import CONTENT_KEYS, ERROR_TYPE, SCHEMA_URL, TurnTrace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

log = logging.getLogger("opentelemetry.local_assistant")
"""Our own lines, under the SDK's logger so they land in the same file."""

EXPORT_TIMEOUT_S = 3.0
FLUSH_TIMEOUT_S = 3.0
TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """The URL spans are POSTed to (``OTEL_EXPORTER_OTLP_ENDPOINT`` rules:
    ``/v1/traces`` is appended to a base URL)."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def sdk_log_handler(log_file: Path | None) -> logging.Handler:
    """A handler for the SDK's log lines (e.g. "Failed to export span
    batch"): ``log_file``, or nowhere when it cannot be opened."""
    handler: logging.Handler = logging.NullHandler()
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file, encoding="utf-8", delay=True)
        except OSError:
            pass
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


class OtlpTraces:
    """Exports ``TurnTrace`` trees to one OTLP/HTTP endpoint."""

    def __init__(self, settings: TelemetrySettings, log_file: Path | None = None) -> None:
        if settings.otlp_endpoint is None:
            raise ValueError("telemetry.otlp_endpoint is not set")
        self.settings = settings
        self.url = traces_url(settings.otlp_endpoint)
        self._lock = threading.Lock()
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        self._closed = False
        sdk_logger = logging.getLogger("opentelemetry")
        sdk_logger.propagate = False  # never Python's last-resort stderr
        self._handler: logging.Handler | None = sdk_log_handler(log_file)
        sdk_logger.addHandler(self._handler)

    @property
    def capture_content(self) -> bool:
        return self.settings.capture_content

    def start(self) -> None:
        """Import the SDK and build the exporter now (``Core.open`` calls it
        in a thread, so the first traced reply does not pay the ~0.3 s import)."""
        try:
            self._ensure()
        except Exception:
            if not self._closed:
                log.warning("could not start tracing", exc_info=True)

    def _ensure(self) -> Tracer:
        with self._lock:
            if self._closed:
                raise RuntimeError("tracing has been closed")
            if self._tracer is None:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
                from opentelemetry.sdk.resources import Resource
                from opentelemetry.sdk.trace import TracerProvider
                from opentelemetry.sdk.trace.export import BatchSpanProcessor

                resource = Resource.create({"service.name": self.settings.service_name})
                provider = TracerProvider(resource=resource)
                exporter = OTLPSpanExporter(
                    endpoint=self.url,
                    headers=dict(self.settings.headers),
                    timeout=EXPORT_TIMEOUT_S,
                )
                provider.add_span_processor(BatchSpanProcessor(exporter))
                self._provider = provider
                # our own provider, not the global one: a host program's
                # tracing set-up is left alone
                self._tracer = provider.get_tracer("local-assistant", schema_url=SCHEMA_URL)
            return self._tracer

    def export(self, trace: TurnTrace) -> None:
        """Queue the turn's spans; never raises (a failure is logged)."""
        try:
            self._export(trace)
        except Exception:
            log.warning("could not export a turn's trace", exc_info=True)

    def _export(self, trace: TurnTrace) -> None:
        """Parents first; each span ends at its recorded time."""
        from opentelemetry import trace as api
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind, Status, StatusCode

        tracer = self._ensure()
        trace.finish()
        started: list[tuple[Any, int]] = []
        spans: dict[int, Any] = {}
        for record, parent in trace.root.walk():
            context = Context() if parent is None else api.set_span_in_context(spans[id(parent)])
            attributes = {
                k: v
                for k, v in record.attributes.items()
                if self.capture_content or k not in CONTENT_KEYS
            }
            kind = SpanKind.CLIENT if "gen_ai.request.model" in attributes else SpanKind.INTERNAL
            s = tracer.start_span(
                record.name,
                context=context,
                kind=kind,
                attributes=attributes,
                start_time=record.start_ns,
            )
            if record.error:
                s.set_attribute(ERROR_TYPE, record.error)
                s.set_status(Status(StatusCode.ERROR, record.error))
            spans[id(record)] = s
            started.append((s, record.end_ns or record.start_ns))
        for s, end_ns in reversed(started):
            s.end(end_time=end_ns)

    def close(self) -> None:
        """Flush queued spans (bounded) and stop the export thread."""
        with self._lock:
            self._closed = True
            provider, self._provider, self._tracer = self._provider, None, None
            handler, self._handler = self._handler, None
        if provider is not None:
            provider.force_flush(int(FLUSH_TIMEOUT_S * 1000))
            provider.shutdown()
        if handler is not None:
            logging.getLogger("opentelemetry").removeHandler(handler)
            handler.close()
