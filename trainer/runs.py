"""Where tune-up runs live: the layout is the backend's (``backend.modelfiles.adapters``,
which also keeps the active adapter); re-exported for the trainer."""

from backend.modelfiles.adapters import (
    GGUF_FILE,
    RUN_FILE,
    RunInfo,
    adapters_root,
    list_runs,
    new_run_dir,
    safe_name,
    write_run,
)

__all__ = [
    "GGUF_FILE",
    "RUN_FILE",
    "RunInfo",
    "adapters_root",
    "list_runs",
    "new_run_dir",
    "safe_name",
    "write_run",
]
