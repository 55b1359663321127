"""``current_time``: small models do not know the date, and guess it wrong."""

from __future__ import annotations

import difflib
from datetime import UTC, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from backend.tools.base import Tool, ToolExample, ToolOutput
from backend.tools.builtin.context import ToolContext
from backend.tools.errors import ToolError
from backend.tools.function_tools import tool_from_function

_UTC_NAMES = frozenset({"utc", "z", "gmt", "zulu", "etc/utc", "utc+0", "utc+00:00"})
_LOCAL_NAMES = frozenset({"local", "localtime"})


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Every IANA zone name on this machine, by its case-folded form."""
    return {name.casefold(): name for name in available_timezones()}


def find_zone(name: str) -> tzinfo | None:
    """The zone called ``name`` (IANA, case-insensitive; ``UTC``; ``local``
    for this computer's own); None for ``local``; ``ToolError`` naming an
    example and close matches when there is no such zone."""
    key = name.strip()
    folded = key.casefold()
    if folded in _UTC_NAMES:
        return UTC
    if folded in _LOCAL_NAMES:
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    names = _zone_names()
    exact = names.get(folded.replace(" ", "_"))
    if exact is not None:
        return ZoneInfo(exact)
    close = difflib.get_close_matches(folded.replace(" ", "_"), list(names), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(names[c]) for c in close)}?" if close else ""
    raise ToolError(
        f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or"
        f" 'America/New_York', or 'UTC'.{hint}"
    )


def make_current_time(context: ToolContext) -> Tool:
    def current_time(timezone: str = "UTC") -> ToolOutput:
        """Get the current date and time.

        Args:
            timezone: An IANA time zone such as "Europe/Paris", "UTC", or "local"
                for this computer's.
        """
        zone = find_zone(timezone)
        now = context.now()
        local = now.astimezone(zone) if zone is not None else now.astimezone()
        offset = local.strftime("%z")
        offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        if isinstance(zone, ZoneInfo):
            name = zone.key
        else:
            name = "UTC" if zone is UTC else f"local ({local.tzname()})"
        text = (
            f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M:%S}"
            f" {local.tzname()} ({offset}), time zone {name}"
        )
        return ToolOutput(text=text, data={"iso": local.isoformat(), "timezone": name})

    examples = (
        ToolExample("what time is it in Berlin?", {"timezone": "Europe/Berlin"}),
        ToolExample("what is the date today?", {"timezone": "local"}),
    )
    return tool_from_function(current_time, timeout_s=5.0, examples=examples)
