"""The command palette provider: one entry per action in ``keys.ACTIONS``,
plus one per theme, each showing its current key, and the commands that
have no key ("Export conversation…")."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from assistant import keys
from assistant.export_mode import EXPORT_COMMAND, EXPORT_HELP

if TYPE_CHECKING:
    from assistant.app import AssistantApp


class AssistantCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        app = cast("AssistantApp", self.app)
        main = app.main
        out: list[tuple[str, str, Callable[[], Any]]] = []
        for a in keys.ACTIONS:
            if a.scope == "composer":
                continue
            run: Callable[[], Any]
            if a.scope == "app":
                run = partial(app.run_action, a.action_name)
            elif a.scope == "main":
                run = partial(main.run_action, a.action_name)
            else:
                run = partial(main.run_action, f"message('{a.id}')")
            key = keys.display_key(keys.key_for(a.id, app.keymap_overrides))
            out.append((a.title, a.help + (f"  [{key}]" if key else ""), run))
        out.append((EXPORT_COMMAND, EXPORT_HELP, partial(main.run_action, "export_conversation")))
        for name in app.theme_names:
            out.append((f"Theme: {name}", "Switch the colour theme", partial(app.use_theme, name)))
        return out

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)
