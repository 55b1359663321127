"""Run the TUI by hand on a FakeRuntime backend (no model needed).

    .venv/bin/python -m tests.tui.demo_app [DATA_DIR]

Replies echo your message word by word (slowly, so Esc can stop them). The
data folder defaults to a fresh temporary one.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from assistant.app import run_tui
from backend import Backend
from backend.common.config import Settings
from backend.common.locations import Locations
from backend.runtimes.fake import FakeRuntime


def main() -> None:
    home = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    runtime = FakeRuntime(models=("fake-model", "fake-large"), delay_s=0.03, reply_words=30)
    run_tui(Backend(Locations(home), Settings(default_model="fake-model"), [runtime]))


if __name__ == "__main__":
    main()
