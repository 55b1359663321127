"""Finding runtime plugins.

Runtimes are registered as entry points in the ``local_assistant.runtimes``
group (our own llama.cpp runtime is registered the same way as a third-party
one would be, in ``pyproject.toml``). Each entry point names a class or
factory called as ``factory(settings, locations)`` that returns a
``Runtime``. A plugin that fails to import (say, llama-cpp-python missing)
is reported as unavailable with the reason instead of breaking start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.base import Runtime

GROUP = "local_assistant.runtimes"
BUILTIN = {"llamacpp": "backend.runtimes.llamacpp_process:create_llamacpp_runtime"}


@dataclass(frozen=True)
class UnavailableRuntime:
    name: str
    reason: str


RuntimeFactory = Callable[[Settings, Locations], Runtime]


def _load(target: str) -> RuntimeFactory:
    module_name, _, attr = target.partition(":")
    module = __import__(module_name, fromlist=[attr])
    factory: RuntimeFactory = getattr(module, attr)
    return factory


def discover_runtimes(
    settings: Settings, locations: Locations
) -> tuple[list[Runtime], list[UnavailableRuntime]]:
    targets = dict(BUILTIN)
    for ep in entry_points(group=GROUP):
        targets[ep.name] = ep.value
    ready: list[Runtime] = []
    broken: list[UnavailableRuntime] = []
    for name, target in targets.items():
        try:
            ready.append(_load(target)(settings, locations))
        except Exception as err:  # a plugin must not break start-up
            broken.append(UnavailableRuntime(name, f"{type(err).__name__}: {err}"))
    return ready, broken
