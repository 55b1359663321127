"""A model call as the request log keeps it (``assistant log show`` and
``replay``): the one place a ``GenerationRequest`` and its output become
``RunInputs``, for replies and hidden calls alike."""

from __future__ import annotations

from dataclasses import asdict

from backend.runtimes.base import GenerationRequest
from backend.store.request_inputs import RunInputs


def logged_inputs(request: GenerationRequest, output: str) -> RunInputs:
    """Model file and adapter, parameters (with ``tool_choice`` when tools
    were offered), messages as sent, tools and the raw output."""
    params = asdict(request.params)
    if request.tools:
        params["tool_choice"] = request.tool_choice
    return RunInputs(
        model_name=request.model.name,
        model_path=request.model.path,
        params=params,
        messages=[(m.role, m.content) for m in request.messages],
        output=output,
        adapter_path=request.model.adapter,
        tools=request.tools,
    )
