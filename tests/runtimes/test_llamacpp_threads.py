"""The decode thread count is chosen by measuring (``llamacpp_threads``):
all cores while they are free, one fewer once a neighbour makes the
spin-waiting threads collapse, and back when it leaves."""

from __future__ import annotations

from backend.runtimes.llamacpp_threads import (
    PROBE_WINDOW,
    SETTLE_TOKENS,
    STALE_S,
    WINDOW,
    DecodeTimer,
    ThreadChooser,
    _Rate,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(chooser: ThreadChooser, rates: dict[int, float], windows: int, clock: Clock) -> list[int]:
    """Feed ``windows`` windows at the given per-thread-count rates; the thread
    count of each window."""
    used = []
    for _ in range(windows):
        n = chooser.current
        used.append(n)
        size = chooser.window_size()
        seconds = size / rates[n]
        clock.now += seconds
        chooser.measured(size, seconds)
    return used


def test_idle_keeps_all_cores_after_one_short_probe() -> None:
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    used = run(chooser, {2: 78.0, 1: 49.0}, 20, clock)
    assert used[:3] == [2, 1, 2]  # measure both once
    assert set(used[3:]) == {2}


def test_one_slow_window_is_not_a_reason_to_move() -> None:
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    run(chooser, {2: 86.0, 1: 50.0}, 5, clock)
    used = run(chooser, {2: 20.0, 1: 50.0}, 1, clock)  # a neighbour's short burst
    used += run(chooser, {2: 86.0, 1: 50.0}, 5, clock)
    assert set(used) == {2}


def test_a_probe_that_is_not_faster_is_not_kept() -> None:
    """All cores measured only 1.1x one fewer (a noisy window): the probe of
    one fewer is still slower, so decoding goes back to all cores."""
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    used = run(chooser, {2: 54.0, 1: 49.0}, 10, clock)
    assert used[:3] == [2, 1, 2] and set(used[2:]) == {2}
    # and a probe that is faster is kept, without needing the margin
    clock.now += STALE_S + 1
    used = run(chooser, {2: 54.0, 1: 58.0}, 6, clock)
    assert used[-1] == 1


def test_one_slow_window_at_all_cores_does_not_strand_decoding() -> None:
    """The first window after a model load ran slow at all cores, so one
    fewer won the first comparison; all cores are measured again within
    seconds (not a minute) and win back."""
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    chooser.measured(8, 8 / 40.0)  # a slow first window at 2 threads
    assert chooser.current == 1
    used = run(chooser, {2: 86.0, 1: 50.0}, 40, clock)  # ~6 s of decoding
    assert used[-1] == 2 and clock.now < 10


def test_a_busy_neighbour_moves_decoding_to_one_fewer_thread_and_back() -> None:
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    run(chooser, {2: 78.0, 1: 49.0}, 5, clock)  # idle: measured both
    busy = run(chooser, {2: 6.0, 1: 49.0}, 30, clock)
    assert busy[:3] == [2, 2, 1]  # two slow windows in a row, then it moves
    # all cores are re-measured with a doubling backoff: a few slow windows
    assert busy.count(2) <= 3 and chooser.losses[2] >= 2
    clock.now += STALE_S + 1  # the neighbour left; 2 threads get probed again
    idle = run(chooser, {2: 78.0, 1: 49.0}, 10, clock)
    assert idle[-1] == 2


def test_a_fixed_count_is_never_changed_and_one_core_has_no_choice() -> None:
    clock = Clock()
    fixed = ThreadChooser(4, adaptive=False, clock=clock)
    assert set(run(fixed, {4: 10.0}, 10, clock)) == {4}
    single = ThreadChooser(1, clock=clock)
    assert set(run(single, {1: 10.0}, 10, clock)) == {1}


def test_the_timer_applies_switches_between_tokens() -> None:
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    applied: list[int] = []
    timer = DecodeTimer(chooser, applied.append, clock)
    for _ in range(SETTLE_TOKENS + PROBE_WINDOW + 2):
        clock.now += 1 / 80
        timer.token()
    assert applied == [1] and chooser.current == 1  # the first window probes the other count
    assert chooser.window_size() in (PROBE_WINDOW, WINDOW)


def test_a_probe_that_has_already_lost_ends_after_one_token() -> None:
    """With a busy core, probing all cores again costs one slow token, not
    a window of them: the probe ends once it has used the time one fewer
    needs for a whole window."""
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    chooser.rates[1] = _Rate(50.0, clock.now)
    chooser.probing = True  # measuring 2 threads again; 1 is established
    assert chooser.probe_budget() == PROBE_WINDOW / 50.0
    applied: list[int] = []
    timer = DecodeTimer(chooser, applied.append, clock)
    for _ in range(SETTLE_TOKENS + 2):  # the settle token, the window's first stamp,
        clock.now += 0.2  # and one interval of 0.2 s > 8 tokens at 50 tok/s (0.16 s)
        timer.token()
    assert applied == [1] and chooser.current == 1 and chooser.losses[2] == 1
    assert chooser.probe_budget() is None  # not probing now: no budget


def test_a_probe_that_can_still_win_is_measured_whole() -> None:
    """All cores free again: probing them (88 tok/s) against one fewer
    (50 tok/s) runs the whole window (8 tokens take 91 ms, the budget is
    160 ms) and is kept; probing one fewer on an idle machine ends as soon
    as it cannot win any more (after 5 of its 8 tokens)."""
    clock = Clock()
    chooser = ThreadChooser(2, clock=clock)
    chooser.rates[1] = _Rate(50.0, clock.now)
    chooser.probing = True
    applied: list[int] = []
    timer = DecodeTimer(chooser, applied.append, clock)
    for _ in range(SETTLE_TOKENS + PROBE_WINDOW + 1):
        clock.now += 1 / 88
        timer.token()
    assert applied == [] and chooser.current == 2 and not chooser.probing  # kept
    chooser.current, chooser.probing = 1, True
    timer = DecodeTimer(chooser, applied.append, clock)
    tokens = 0
    while not applied:
        clock.now += 1 / 50
        timer.token()
        tokens += 1
    assert applied == [2] and tokens == SETTLE_TOKENS + 6  # 5 intervals of 20 ms > 91 ms
