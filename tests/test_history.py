from __future__ import annotations

import pytest

from backend.chat.history import TrimState, fit_history
from backend.common.errors import ContextOverflowError
from backend.runtimes.base import ChatMessage

SYS = ChatMessage("system", "sys")


def convo(n_turns: int) -> list[ChatMessage]:
    out = []
    for i in range(n_turns):
        out.append(ChatMessage("user", f"q{i}"))
        out.append(ChatMessage("assistant", f"a{i}"))
    out.append(ChatMessage("user", "last"))
    return out


def test_everything_fits() -> None:
    h = convo(3)
    r = fit_history(SYS, h, [10] * (len(h) + 1), budget=1000)
    assert r.dropped == 0
    assert r.messages == [SYS, *h]
    assert r.total_tokens == 10 * (len(h) + 1)


def test_drops_whole_oldest_messages_and_starts_on_a_user_turn() -> None:
    h = convo(5)  # 11 messages
    costs = [10] * (len(h) + 1)
    r = fit_history(SYS, h, costs, budget=80)
    assert r.dropped > 0
    assert r.messages[0] == SYS
    assert r.messages[1].role == "user"
    assert r.messages[-1] == h[-1]
    assert r.total_tokens <= 80
    # whole messages: every kept message is one of the originals, in order
    assert r.messages[1:] == h[r.dropped :]


def test_hysteresis_keeps_the_prefix_stable_across_turns() -> None:
    state = TrimState()
    h = convo(5)
    first = fit_history(SYS, h, [10] * (len(h) + 1), budget=80, state=state)
    # the next turn adds a reply and a question; the cut must not move yet
    h2 = [*h, ChatMessage("assistant", "a-last"), ChatMessage("user", "next")]
    second = fit_history(SYS, h2, [10] * (len(h2) + 1), budget=80, state=state)
    assert second.dropped == first.dropped
    assert second.messages[: len(first.messages)] == first.messages


def test_cut_is_forgotten_when_everything_fits_again() -> None:
    state = TrimState(dropped=6)
    h = convo(2)
    r = fit_history(SYS, h, [10] * (len(h) + 1), budget=1000, state=state)
    assert r.dropped == 0 and state.dropped == 0


def test_a_message_too_long_for_the_window_is_an_error() -> None:
    h = convo(1)
    with pytest.raises(ContextOverflowError, match="tokens"):
        fit_history(SYS, h, [10, 10, 10, 500], budget=100)


def test_without_system_prompt() -> None:
    h = convo(4)
    r = fit_history(None, h, [10] * len(h), budget=35)
    assert r.messages[0].role == "user"
    assert r.total_tokens <= 35


def test_surely_fits_is_a_safe_upper_bound() -> None:
    from backend.chat.history import surely_fits

    short = [SYS, ChatMessage("user", "hello")]
    assert surely_fits(short, budget=4096)
    assert not surely_fits(short, budget=100)
    long = [SYS, ChatMessage("user", "é" * 2000)]  # 4000 bytes
    assert not surely_fits(long, budget=4096)
