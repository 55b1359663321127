"""The assistant's headless core.

Everything that is not UI lives here; this package never imports Textual (a
test checks it). Front ends use ``backend.Backend`` and nothing else.
"""

from backend.errors import AssistantError
from backend.facade import Backend

__all__ = ["AssistantError", "Backend"]
