"""Which runtimes can run models right now, and why the others cannot.

A remote runtime whose server is down (Ollama not started, an OpenAI
endpoint unreachable or refusing its key) offers no models and used to be
silent about it: the model simply was not in the list. ``runtime_status``
says, per runtime, how many models it offers and ``reason`` when it offers
none it should -- the runtime's own ``unavailable_reason`` (read after
``list_models``, which the remote runtimes cache for 10-30 s, so asking is
cheap) or the error of a plugin that failed to load. A runtime that is
switched off (``[ollama] enabled = false``, no OpenAI endpoint configured)
has no reason and is not "unavailable": the user chose it.

``model_origin`` is the short "where does this model run" label the UI shows
next to a model: ``local`` for files run in-process, the Ollama host, the
OpenAI endpoint's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.modelfiles.catalog import ModelInfo
from backend.runtimes.base import Runtime
from backend.runtimes.registry import UnavailableRuntime


@dataclass(frozen=True)
class RuntimeStatus:
    """One runtime: ``models`` it offers now, ``reason`` it offers none (or,
    for a runtime with several servers, why some of them offer none);
    ``loaded`` false when its plugin failed to load."""

    runtime: str
    models: int
    reason: str | None = None
    loaded: bool = True

    @property
    def unavailable(self) -> bool:
        """Worth telling the user: it failed, or a server it needs is down."""
        return self.reason is not None


def model_origin(model: ModelInfo) -> str:
    """Where ``model`` runs, for labels: ``local``, a host, an endpoint name."""
    if model.runtime == "openai":
        return model.name.partition("/")[0]
    if model.path is not None or not model.source:
        return "local"
    if "://" in model.source:
        return model.source
    return "local"  # bundled, models-dir, config: files on this machine


def runtime_statuses(
    runtimes: list[Runtime], broken: list[UnavailableRuntime]
) -> list[RuntimeStatus]:
    """The status of each loaded runtime (asking it for its models), then
    of each plugin that failed to load."""
    out: list[RuntimeStatus] = []
    for rt in runtimes:
        try:
            count = len(rt.list_models())
        except Exception as err:  # list_models must not raise; say so if it does
            out.append(RuntimeStatus(rt.name, 0, f"{type(err).__name__}: {err}"))
            continue
        reason = getattr(rt, "unavailable_reason", None)
        out.append(RuntimeStatus(rt.name, count, str(reason) if reason else None))
    out += [RuntimeStatus(u.name, 0, u.reason, loaded=False) for u in broken]
    return out
