"""Retry (sseclient_sync/_retry.py): the reconnect policy as a pure, immutable value.

Nothing here sleeps or opens a socket: the randomness is injected, so every wait is an exact
number. How the reader applies the policy is tested in test_reader.py.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import pytest

from sseclient_sync import ConnectError, HTTPStatusError, Retry

NAN = float("nan")


def fixed(value: float) -> Callable[[], float]:
    """A stand-in for random.random that always returns ``value``."""
    return lambda: value


EXACT = fixed(0.5)  # 2 * 0.5 - 1 == 0: no jitter at all
LOWEST = fixed(0.0)  # the bottom of [0, 1): -jitter
HIGHEST = fixed(math.nextafter(1.0, 0.0))  # the top of [0, 1): +jitter


# --- the value itself ------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    retry = Retry()
    assert (retry.max_attempts, retry.delay, retry.backoff, retry.max_delay, retry.jitter) == (
        3,
        1.0,
        2.0,
        30.0,
        0.1,
    )
    assert retry.should_retry is None


def test_is_immutable() -> None:
    retry = Retry()
    with pytest.raises(dataclasses.FrozenInstanceError):
        retry.delay = 5.0  # type: ignore[misc]
    assert retry.delay == 1.0


def test_replace_gives_a_new_checked_value() -> None:
    retry = Retry(max_attempts=5)
    assert dataclasses.replace(retry, delay=0.5) == Retry(max_attempts=5, delay=0.5)
    with pytest.raises(ValueError, match="delay"):
        dataclasses.replace(retry, delay=-1)


def test_equal_policies_are_equal_and_hashable() -> None:
    assert Retry(max_attempts=2) == Retry(max_attempts=2)
    assert Retry(max_attempts=2) != Retry(max_attempts=3)
    assert len({Retry(), Retry()}) == 1


# --- validation: the option and the bad value are in the message ----------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", -1),
        ("max_attempts", 1.5),
        ("max_attempts", "3"),
        ("max_attempts", True),
        ("max_attempts", None),
        ("delay", -0.5),
        ("delay", "1"),
        ("delay", True),
        ("max_delay", -1),
        ("max_delay", "30"),
        ("jitter", -0.1),
        ("jitter", 1.5),
        ("jitter", False),
        ("backoff", 0.5),
        ("backoff", 0),
    ],
)
def test_a_bad_value_is_rejected_naming_the_field_and_the_value(field: str, value: Any) -> None:
    with pytest.raises(ValueError) as caught:
        Retry(**{field: value})
    message = str(caught.value)
    assert field in message
    assert repr(value) in message


def test_a_backoff_of_the_wrong_type_is_rejected_naming_it() -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        Retry(backoff="2")  # type: ignore[arg-type]
    assert "backoff" in str(caught.value)
    assert "'2'" in str(caught.value)


@pytest.mark.parametrize("field", ["delay", "max_delay", "jitter", "backoff"])
def test_nan_is_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Retry(**{field: NAN})  # type: ignore[arg-type]


def test_boundaries_are_accepted() -> None:
    Retry(max_attempts=0, delay=0, max_delay=0, jitter=0, backoff=1)
    Retry(jitter=1.0)
    Retry(delay=2, max_delay=60)  # ints are numbers too


def test_should_retry_must_be_callable() -> None:
    with pytest.raises(TypeError, match="should_retry") as caught:
        Retry(should_retry="yes")  # type: ignore[arg-type]
    assert "'yes'" in str(caught.value)


# --- from_option: the retry= option ----------------------------------------------------------


def test_from_option_keeps_a_retry_as_it_is() -> None:
    retry = Retry(max_attempts=7, delay=0.1)
    assert Retry.from_option(retry) is retry


@pytest.mark.parametrize("attempts", [1, 3, 10])
def test_from_option_int_is_max_attempts(attempts: int) -> None:
    assert Retry.from_option(attempts) == Retry(max_attempts=attempts)


def test_from_option_true_is_the_default_policy() -> None:
    assert Retry.from_option(True) == Retry()


@pytest.mark.parametrize("never", [False, 0])
def test_from_option_false_and_zero_never_reconnect(never: Any) -> None:
    retry = Retry.from_option(never)
    assert retry.max_attempts == 0
    assert retry.is_exhausted(0)


@pytest.mark.parametrize("default", [None, True])
def test_from_option_none_and_true_mean_the_default(default: Any) -> None:
    assert Retry.from_option(default) == Retry()


def test_from_option_negative_int_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Retry.from_option(-1)


@pytest.mark.parametrize("bad", ["3", 2.5, [3], {"max_attempts": 3}])
def test_from_option_other_types_are_a_type_error_naming_the_value(bad: Any) -> None:
    with pytest.raises(TypeError, match="retry") as caught:
        Retry.from_option(bad)
    assert repr(bad) in str(caught.value)


# --- backoff_time ----------------------------------------------------------------------------


def test_backoff_is_delay_times_backoff_to_the_attempt() -> None:
    retry = Retry(delay=1.0, backoff=2.0, max_delay=1000.0)
    assert [retry.backoff_time(n, random=EXACT) for n in range(6)] == [1, 2, 4, 8, 16, 32]


def test_backoff_with_another_base_and_factor() -> None:
    retry = Retry(delay=0.5, backoff=3.0, max_delay=1000.0)
    assert [retry.backoff_time(n, random=EXACT) for n in range(4)] == [0.5, 1.5, 4.5, 13.5]


def test_backoff_one_is_a_constant_delay() -> None:
    retry = Retry(delay=2.0, backoff=1.0)
    assert {retry.backoff_time(n, random=EXACT) for n in range(50)} == {2.0}


def test_backoff_is_capped_at_max_delay() -> None:
    retry = Retry(delay=1.0, backoff=2.0, max_delay=10.0)
    assert [retry.backoff_time(n, random=EXACT) for n in range(7)] == [1, 2, 4, 8, 10, 10, 10]


def test_a_delay_above_max_delay_is_capped_from_the_first_attempt() -> None:
    assert Retry(delay=50.0, max_delay=30.0).backoff_time(0, random=EXACT) == 30.0


def test_zero_delay_reconnects_at_once() -> None:
    retry = Retry(delay=0)
    assert [retry.backoff_time(n, random=HIGHEST) for n in range(5)] == [0.0] * 5


@pytest.mark.parametrize(
    ("draw", "factor"),
    [(LOWEST, 0.9), (EXACT, 1.0), (HIGHEST, 1.1)],
    ids=["random-0-is-minus-jitter", "random-half-is-exact", "random-almost-1-is-plus-jitter"],
)
def test_jitter_moves_the_wait_by_up_to_jitter_of_itself(
    draw: Callable[[], float], factor: float
) -> None:
    retry = Retry(delay=1.0, backoff=2.0, max_delay=100.0, jitter=0.1)
    assert retry.backoff_time(3, random=draw) == pytest.approx(8.0 * factor)


def test_jitter_applies_to_the_capped_wait() -> None:
    retry = Retry(delay=1.0, max_delay=10.0, jitter=0.2)
    assert retry.backoff_time(20, random=LOWEST) == pytest.approx(8.0)
    assert retry.backoff_time(20, random=HIGHEST) == pytest.approx(12.0)


def test_full_jitter_never_gives_a_negative_wait() -> None:
    retry = Retry(delay=4.0, jitter=1.0)
    assert retry.backoff_time(0, random=LOWEST) == 0.0
    assert retry.backoff_time(0, random=HIGHEST) == pytest.approx(8.0)


def test_no_jitter_ignores_the_random_draw() -> None:
    retry = Retry(delay=3.0, jitter=0)
    assert {retry.backoff_time(0, random=draw) for draw in (LOWEST, EXACT, HIGHEST)} == {3.0}


def test_the_default_random_stays_within_the_jitter_band() -> None:
    retry = Retry(delay=10.0, jitter=0.1, max_delay=100.0)
    waits = [retry.backoff_time(0) for _ in range(200)]
    assert all(9.0 <= wait <= 11.0 for wait in waits)
    assert len(set(waits)) > 1  # it is random


def test_server_delay_replaces_delay() -> None:
    retry = Retry(delay=1.0, backoff=2.0, max_delay=100.0)
    assert [retry.backoff_time(n, server_delay=5.0, random=EXACT) for n in range(3)] == [5, 10, 20]


def test_server_delay_is_capped_at_max_delay() -> None:
    retry = Retry(max_delay=30.0)
    assert retry.backoff_time(0, server_delay=60.0, random=EXACT) == 30.0


def test_server_delay_zero_is_used_not_ignored() -> None:
    assert Retry(delay=1.0).backoff_time(0, server_delay=0.0, random=EXACT) == 0.0


def test_server_delay_is_jittered_like_delay() -> None:
    retry = Retry(jitter=0.1)
    assert retry.backoff_time(0, server_delay=5.0, random=LOWEST) == pytest.approx(4.5)


@pytest.mark.parametrize("attempt", [1_100, 10_000, 10**6, 10**9])
def test_a_huge_attempt_number_gives_max_delay_not_an_overflow(attempt: int) -> None:
    retry = Retry(delay=1.0, backoff=2.0, max_delay=30.0)
    assert retry.backoff_time(attempt, random=EXACT) == 30.0


@pytest.mark.parametrize("attempt", [1_100, 10**6])
def test_a_huge_attempt_number_with_an_int_backoff_gives_max_delay(attempt: int) -> None:
    retry = Retry(delay=1, backoff=2, max_delay=30)
    assert retry.backoff_time(attempt, random=EXACT) == 30.0


@pytest.mark.parametrize("server_delay", [None, 0.0])
def test_a_zero_delay_stays_zero_however_many_attempts(server_delay: Any) -> None:
    retry = Retry(delay=0.0, max_delay=30.0)
    assert retry.backoff_time(5_000, server_delay=server_delay, random=EXACT) == 0.0


# --- is_exhausted, allows --------------------------------------------------------------------


def test_is_exhausted_after_max_attempts_failed_attempts() -> None:
    retry = Retry(max_attempts=3)
    assert [retry.is_exhausted(n) for n in range(6)] == [False, False, False, True, True, True]


def test_zero_attempts_is_exhausted_from_the_start() -> None:
    assert Retry(max_attempts=0).is_exhausted(0)


def test_allows_everything_without_should_retry() -> None:
    retry = Retry()
    assert retry.allows(ConnectError("boom"))
    assert retry.allows(RuntimeError("anything"))


def test_should_retry_sees_the_error_and_decides() -> None:
    seen: list[BaseException] = []

    def only_server_errors(error: BaseException) -> bool:
        seen.append(error)
        return isinstance(error, HTTPStatusError) and error.status_code >= 500

    retry = Retry(should_retry=only_server_errors)
    unavailable = HTTPStatusError("503", status_code=503)
    limited = HTTPStatusError("429", status_code=429)
    assert retry.allows(unavailable)
    assert not retry.allows(limited)
    assert seen == [unavailable, limited]


@pytest.mark.parametrize(("answer", "allowed"), [(1, True), ("yes", True), (0, False), ("", False)])
def test_should_retry_answer_is_taken_as_a_bool(answer: Any, allowed: bool) -> None:
    retry = Retry(should_retry=lambda error: answer)
    assert retry.allows(ConnectError("x")) is allowed


def test_should_retry_does_not_change_the_budget() -> None:
    retry = Retry(max_attempts=2, should_retry=lambda error: True)
    assert retry.is_exhausted(2)
    assert not retry.is_exhausted(1)
