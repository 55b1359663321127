"""The assistant's headless core.

Everything that is not UI lives here; this package never imports Textual (a
test checks it). Front ends use ``backend.Backend`` and nothing else.
"""

import logging

# bitsandbytes (installed for the transformers runtime) is imported by
# transformers whenever sentence-transformers loads, and on a CPU without the
# optional `kernels` package (which fetches code from a model hub, so it is
# deliberately not installed) it warns on every start. The fallback it uses
# is fine; the warning is noise in every CLI command.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

from backend.common.errors import AssistantError  # noqa: E402
from backend.facade import Backend  # noqa: E402

__all__ = ["AssistantError", "Backend"]
