"""The adapter check before llama.cpp sees a file: it lives in
``backend.modelfiles.adapter_check`` (the chat runtime runs it before every load);
re-exported here for the trainer's export step."""

from backend.modelfiles.adapter_check import AdapterInfo, validate_adapter

__all__ = ["AdapterInfo", "validate_adapter"]
