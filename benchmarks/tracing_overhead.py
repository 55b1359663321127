"""What does tracing a chat turn cost?

Fake-runtime turns through the ``Backend`` (store writes, request log,
thread bridge; the model itself costs nothing), untraced and traced to a
loopback OTLP/HTTP receiver (the tests' one), alternating so load drift
hits both alike. Reports the median turn time of each, the time spent in
``OtlpTraces.export`` per turn (span creation and queueing; the HTTP export
runs in the SDK's thread), the first export (the lazy SDK import), and
whether every trace arrived.

Prints a table and writes JSON (``--out``, default
``benchmarks/results/tracing_overhead.json``).
Run: ``python benchmarks/tracing_overhead.py [--turns 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend import Backend
from backend.common.config import Settings, TelemetrySettings
from backend.common.locations import Locations
from backend.common.otlp import OtlpTraces
from backend.common.tracing import TurnTrace
from backend.runtimes.fake import FakeRuntime
from tests.fake_embedder import FakeEmbedder
from tests.telemetry.otlp_receiver import OtlpReceiver

EXPORTS: list[float] = []
_export = OtlpTraces.export


def _timed_export(self: OtlpTraces, trace: TurnTrace) -> None:
    started = time.perf_counter()
    _export(self, trace)
    EXPORTS.append((time.perf_counter() - started) * 1000)


OtlpTraces.export = _timed_export  # type: ignore[method-assign]


async def turns(backend: Backend, n: int) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        await (await backend.chat.send(None, f"question number {i} about lighthouses")).collect()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def main(n: int, out: Path) -> dict[str, Any]:
    with OtlpReceiver() as receiver:
        backends = {}
        for name, telemetry in (
            ("untraced", TelemetrySettings()),
            ("traced", TelemetrySettings(otlp_endpoint=receiver.url)),
        ):
            home = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
            settings = Settings(default_model="fake-model", telemetry=telemetry)
            backends[name] = await Backend.open(
                locations=Locations.from_path(home),
                settings=settings,
                runtimes=[FakeRuntime(reply_words=40)],
                embedder=FakeEmbedder(),
            )
        times: dict[str, list[float]] = {"untraced": [], "traced": []}
        for _ in range(n):  # alternate, one turn each
            for name, backend in backends.items():
                times[name] += await turns(backend, 1)
        for backend in backends.values():
            await backend.close()
        received = len({s.trace_id for s in receiver.spans if s.name == "chat"})
    result = {
        "turns": n,
        "untraced_median_ms": statistics.median(times["untraced"]),
        "traced_median_ms": statistics.median(times["traced"]),
        "export_first_ms": EXPORTS[0],
        "export_median_ms": statistics.median(EXPORTS[1:]),
        "traces_received": received,
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    print(f"{'':24}{'ms':>10}")
    for key in ("untraced_median_ms", "traced_median_ms", "export_first_ms", "export_median_ms"):
        print(f"{key:24}{result[key]:>10.2f}")
    print(f"traces received: {received} of {n}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/tracing_overhead.json")
    )
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.out))
