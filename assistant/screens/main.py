"""The chat screen: sidebar, chat view and composer, and the conversation
actions (open, new, rename, delete, search, model, preset, system prompt).

Reply streaming and per-message actions live in ``assistant.chat_actions``,
answering from documents (ctrl+d, @folder) in ``assistant.documents_mode``,
tool calls (ctrl+o, approvals) in ``assistant.tools_mode``, memory
(``/remember``, incognito, proposals) in ``assistant.memory_mode``, exporting the
chat (the palette's "Export conversation…") in ``assistant.export_mode``;
every backend call runs in a worker, so the screen never waits on the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import Worker

from assistant import keys
from assistant.chat_actions import ChatActions
from assistant.documents_mode import DocumentsMode
from assistant.export_mode import ExportMode
from assistant.long_chat_mode import LongChatMode
from assistant.memory_mode import MemoryMode
from assistant.messages import (
    ConversationSelected,
    NewConversationRequested,
    SearchChanged,
    SearchHitChosen,
)
from assistant.screens.confirm import ConfirmScreen
from assistant.screens.edit_text import EditTextScreen
from assistant.screens.picker import PickerScreen
from assistant.screens.presets import PresetsScreen
from assistant.screens.text_input import TextInputScreen
from assistant.tools_mode import ToolsMode
from assistant.widgets.chat_view import ChatView
from assistant.widgets.composer import Composer
from assistant.widgets.sidebar import Sidebar
from backend import AssistantAPI, AssistantError
from backend.api import Conversation, model_origin

if TYPE_CHECKING:
    from assistant.app import AssistantApp

LAST_CONVERSATION = "last_conversation_id"


GET_MODELS = "__get_models__"
"""The model picker's last line: opens the model library."""


class MainScreen(
    ExportMode, ToolsMode, DocumentsMode, LongChatMode, MemoryMode, ChatActions, Screen[None]
):
    BINDINGS = keys.bindings("main")

    def __init__(self, backend: AssistantAPI) -> None:
        super().__init__(id="main")
        self.backend = backend
        self.conversation: Conversation | None = None
        self.model_name = ""

    @property
    def assistant(self) -> AssistantApp:
        return cast("AssistantApp", self.app)

    @property
    def conversation_id(self) -> int | None:
        return self.conversation.id if self.conversation else None

    @property
    def chat(self) -> ChatView:
        return self.query_one(ChatView)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main-pane"):
                yield ChatView(id="chat")
                yield Static("Starting…", id="status", markup=False)
                yield Composer(id="composer")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Assistant"
        self.query_one(Composer).focus()

    def report(self, err: Exception) -> None:
        self.assistant.report(err)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.assistant.on_worker_state_changed(event)  # worker messages do not bubble

    # loading -----------------------------------------------------------
    @work(exclusive=True, group="load", exit_on_error=False)
    async def load(self, conversation_id: int | None = None, reopen: bool = False) -> None:
        """Refresh the sidebar and open ``conversation_id`` (or, with ``reopen``,
        the last one used)."""
        try:
            conversations = await self.backend.conversations.list_conversations()
            if reopen:
                last = await self.backend.conversations.get_state(LAST_CONVERSATION)
                ids = {c.id for c in conversations}
                conversation_id = (
                    int(last)
                    if last and last.isdigit() and int(last) in ids
                    else (conversations[0].id if conversations else None)
                )
            await self.sidebar.set_conversations(conversations, conversation_id)
            await self._open(conversation_id)
        except AssistantError as err:
            self.report(err)
        if reopen:
            self.warn_flagged()

    async def _open(self, conversation_id: int | None) -> None:
        switching = conversation_id != self.conversation_id
        if switching and self.conversation is not None:
            self.left_conversation(self.conversation)
        if conversation_id is None:
            self.conversation = None
            await self.chat.clear()
        else:
            self.conversation = await self.backend.conversations.get_conversation(conversation_id)
            if switching:
                self.meter = None
                await self.chat.clear()
            await self.refresh_thread()
            await self.backend.conversations.set_state(LAST_CONVERSATION, str(conversation_id))
        await self.update_header()

    async def update_header(self) -> None:
        conv = self.conversation
        model = conv.model if conv and conv.model else None
        if model is None:
            try:
                model = (await self.backend.models.default_model()).name
            except AssistantError:
                model = "no model available"
        self.model_name = model
        self.title = conv.title if conv else "New chat"
        self.sub_title = model
        await self.refresh_documents()
        await self.refresh_tools()
        self.update_status()

    def update_status(self) -> None:
        status = self.query_one("#status", Static)
        if self.stream is not None:
            status.update("● writing a reply — Esc stops it")
            status.add_class("-busy")
            return
        status.remove_class("-busy")
        preset = self.conversation.preset if self.conversation else None
        status.update(
            f"{self.model_name}"
            + (f" · {preset}" if preset else "")
            + f" · {self.documents_text}"
            + f" · {self.tools_text}"
            + self.context_text
            + self.memory_text
            + " · Enter sends · ctrl+j new line"
        )

    # sidebar -------------------------------------------------------------
    @on(ConversationSelected)
    def _selected(self, event: ConversationSelected) -> None:
        self.load(event.conversation_id)

    @on(NewConversationRequested)
    def _new(self) -> None:
        self.action_new_conversation()

    @on(SearchChanged)
    def _search_changed(self, event: SearchChanged) -> None:
        self.search(event.query)

    @work(exclusive=True, group="search", exit_on_error=False)
    async def search(self, query: str) -> None:
        hits = []
        if query.strip():
            try:
                hits = await self.backend.conversations.search_messages(query)
            except AssistantError as err:
                self.report(err)
                return
        await self.sidebar.show_hits(query, hits)

    @on(SearchHitChosen)
    def _hit(self, event: SearchHitChosen) -> None:
        self.open_hit(event.conversation_id, event.message_id)

    @work(exclusive=True, group="load", exit_on_error=False)
    async def open_hit(self, conversation_id: int, message_id: int) -> None:
        try:
            await self._open(conversation_id)
        except AssistantError as err:
            self.report(err)
            return
        widget = self.chat.widget_for(message_id)
        if widget is not None:
            widget.focus()
            self.chat.scroll_to_widget(widget, animate=False, top=True)

    # conversation actions -------------------------------------------------
    def action_focus_messages(self) -> None:
        widgets = self.chat.message_widgets()
        if widgets:
            widgets[-1].focus()

    def action_focus_composer(self) -> None:
        self.query_one(Composer).focus()

    def action_search(self) -> None:
        self.sidebar.focus_search()

    @work(group="conversation", exit_on_error=False)
    async def action_new_conversation(self) -> None:
        try:
            conv = await self.backend.conversations.create_conversation()
        except AssistantError as err:
            self.report(err)
            return
        self.sidebar.clear_search()
        self.load(conv.id)
        self.action_focus_composer()

    @work(group="conversation", exit_on_error=False)
    async def action_rename_conversation(self) -> None:
        conv = self.conversation
        if conv is None:
            self.notify("Nothing to rename yet: send a message first", severity="warning")
            return
        title = await self.app.push_screen_wait(TextInputScreen("Rename chat", conv.title))
        if not title or not title.strip():
            return
        try:
            self.conversation = await self.backend.conversations.rename_conversation(conv.id, title)
        except (AssistantError, ValueError) as err:
            self.report(err)
            return
        self.load(conv.id)

    @work(group="conversation", exit_on_error=False)
    async def action_delete_conversation(self) -> None:
        conv = self.conversation
        if conv is None:
            return
        question = f"Delete “{conv.title}” and all its messages? This cannot be undone."
        if not await self.app.push_screen_wait(ConfirmScreen("Delete chat", question)):
            return
        try:
            await self.backend.conversations.delete_conversation(conv.id)
            remaining = await self.backend.conversations.list_conversations()
        except AssistantError as err:
            self.report(err)
            return
        self.conversation = None
        self.load(remaining[0].id if remaining else None)
        self.notify(f"Deleted “{conv.title}”")

    @work(group="conversation", exit_on_error=False)
    async def action_pick_model(self) -> None:
        try:
            models = await self.backend.models.list_models()
        except AssistantError as err:
            self.report(err)
            return
        statuses = await self.backend.models.runtime_status()
        down = [f"{s.runtime}: {s.reason}" for s in statuses if s.unavailable]
        if not models:
            self.notify("\n".join(["No model is available", *down]), severity="error")
            return
        choices = [(m.name, f"{m.name}  ({m.runtime} · {model_origin(m)})") for m in models]
        choices.append((GET_MODELS, "Get models…  (what fits this machine, Hub search)"))
        name = await self.app.push_screen_wait(
            PickerScreen("Model for this chat", choices, self.model_name, unavailable=tuple(down))
        )
        if name == GET_MODELS:
            await self.app.run_action("library")
            return
        if not name:
            return
        try:
            conv = self.conversation or await self.backend.conversations.create_conversation()
            self.conversation = await self.backend.conversations.set_conversation_model(
                conv.id, name
            )
        except AssistantError as err:
            self.report(err)
            return
        self.load(self.conversation.id)

    @work(group="conversation", exit_on_error=False)
    async def action_pick_preset(self) -> None:
        try:
            presets = await self.backend.conversations.presets()
        except AssistantError as err:
            self.report(err)
            return
        current = self.conversation.preset if self.conversation else None
        choices = [(p.name, p.name) for p in presets]
        name = await self.app.push_screen_wait(
            PickerScreen(
                "Preset for this chat",
                choices,
                current,
                hint="A preset's system prompt is copied into the chat (F6 edits it).",
            )
        )
        if not name:
            return
        try:
            conv = self.conversation or await self.backend.conversations.create_conversation()
            self.conversation = await self.backend.conversations.set_conversation_preset(
                conv.id, name
            )
        except AssistantError as err:
            self.report(err)
            return
        self.load(self.conversation.id)
        self.notify(f"Preset “{name}” applied")

    @work(group="conversation", exit_on_error=False)
    async def action_edit_system_prompt(self) -> None:
        try:
            conv = self.conversation or await self.backend.conversations.create_conversation()
        except AssistantError as err:
            self.report(err)
            return
        text = await self.app.push_screen_wait(
            EditTextScreen(
                "System prompt",
                conv.system_prompt,
                hint="Sent before every turn of this chat. Applies to the next reply.",
            )
        )
        if text is None:
            return
        try:
            self.conversation = await self.backend.conversations.set_system_prompt(conv.id, text)
        except AssistantError as err:
            self.report(err)
            return
        self.load(conv.id)

    def action_edit_presets(self) -> None:
        self.app.push_screen(PresetsScreen(self.backend))
