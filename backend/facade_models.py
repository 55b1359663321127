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

``Backend`` inherits ``ModelStatusMethods``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from backend.runtimes.base import Runtime
from backend.runtimes.registry import UnavailableRuntime
from backend.runtimes.status import RuntimeStatus, runtime_statuses

T = TypeVar("T")


class ModelStatusMethods:
    unavailable: list[UnavailableRuntime]

    @property
    def runtimes(self) -> list[Runtime]:
        raise NotImplementedError

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError

    async def runtime_status(self) -> list[RuntimeStatus]:
        """Every runtime, loaded or not, with how many models it offers and
        why it offers none (``RuntimeStatus.unavailable``)."""
        return await self._run(runtime_statuses, self.runtimes, list(self.unavailable))
