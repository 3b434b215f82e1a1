"""The reconnect policy (sseclient_sync/_policy.py) as tables: every rule of API.md section 2
is a row. Pure: no threads, sockets or clocks."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from sseclient_sync import (
    CallbackError,
    ConnectError,
    ContentTypeError,
    Event,
    EventTooLarge,
    HTTPStatusError,
    InternalError,
    ReadTimeout,
    Retry,
    RetryExhausted,
    ServerEventError,
)
from sseclient_sync._policy import (
    AttemptState,
    Complete,
    Ended,
    Fail,
    Poll,
    Reconnect,
    Stop,
    decide,
)
from sseclient_sync._request import BadResumeValue

URL = "http://127.0.0.1:9/s"
NO_JITTER = Retry(max_attempts=3, delay=1.0, backoff=2.0, max_delay=30.0, jitter=0)


def state(**changes: Any) -> AttemptState:
    given: dict[str, Any] = {"url": URL, "retry": NO_JITTER}
    given.update(changes)
    return AttemptState(**given)


def drop(sent: bool = True) -> ConnectError:
    return ConnectError("the stream broke off", url=URL, request_sent=sent)


def status(code: int, retry_after: Optional[float] = None) -> HTTPStatusError:
    return HTTPStatusError(f"{code}", url=URL, status_code=code, retry_after=retry_after)


def server_error() -> ServerEventError:
    return ServerEventError("error event", url=URL, event=Event(event="error", data="{}"))


# --- how a stream ended, without an error ---------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "given", "expected"),
    [
        (Ended.CLOSE, {}, Stop()),
        (Ended.RECONNECT, {}, Reconnect(0.0, counts=False)),
        (Ended.RECONNECT, {"attempts": 3}, Reconnect(0.0, counts=False)),  # never exhausted
        (Ended.NO_CONTENT, {}, Complete()),  # 204: the server says stop
        (Ended.NO_CONTENT, {"method": "POST"}, Complete()),
        (Ended.DONE, {}, Complete()),
        # The server ends the body: a GET reconnects as EventSource does ...
        (Ended.SERVER_END, {}, Reconnect(1.0)),
        # ... unless it may not reconnect at all; an answer of another method is complete.
        (Ended.SERVER_END, {"retry": Retry(max_attempts=0)}, Complete()),
        (Ended.SERVER_END, {"method": "POST"}, Complete()),
        (Ended.SERVER_END, {"method": "REPORT"}, Complete()),
        # With a done predicate the end before the marker is a drop, for any method.
        (Ended.SERVER_END, {"method": "POST", "has_done": True, "has_event_id": True},
         Reconnect(1.0)),
        # reconnect_on_end overrides the rule both ways.
        (Ended.SERVER_END, {"method": "POST", "reconnect_on_end": True}, Reconnect(1.0)),
        (Ended.SERVER_END, {"reconnect_on_end": False}, Complete()),
        (Ended.SERVER_END, {"has_done": True, "reconnect_on_end": False}, Complete()),
    ],
)
def test_endings_without_an_error(ending: Ended, given: dict[str, Any], expected: Any) -> None:
    assert decide(ending, state(**given)) == expected


def test_an_end_that_is_a_drop_is_not_reported_as_an_error() -> None:
    decision = decide(Ended.SERVER_END, state())
    assert isinstance(decision, Reconnect) and decision.report is None


def test_a_post_awaiting_done_with_no_ids_is_not_sent_again_after_an_end() -> None:
    decision = decide(Ended.SERVER_END, state(method="POST", has_done=True))
    assert isinstance(decision, Fail) and "done marker" in str(decision.error)


# --- errors: which are retried ----------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [drop(), ReadTimeout("silent", url=URL), status(500), status(503), status(408),
     status(429), status(599), CallbackError("hook", url=URL), InternalError("bug", url=URL)],
    ids=lambda error: type(error).__name__ + getattr(error, "message", ""),
)
def test_retryable_errors_reconnect_and_are_reported(error: Exception) -> None:
    decision = decide(error, state())  # type: ignore[arg-type]
    assert decision == Reconnect(1.0, error)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [status(400), status(401), status(403), status(404), status(410),
     status(501),  # Not Implemented: the server does not support the method; no retry helps
     ContentTypeError("html", url=URL), EventTooLarge("big", url=URL),
     RetryExhausted("gave up", url=URL),
     ConnectError("bad URL", url=URL, request_sent=False, final=True)],
    ids=lambda error: type(error).__name__ + str(getattr(error, "status_code", "")),
)
def test_other_errors_are_final(error: Exception) -> None:
    assert decide(error, state()) == Fail(error)  # type: ignore[arg-type]


def test_a_final_error_falls_back_to_polling_when_there_is_a_poll_url() -> None:
    error = status(404)
    assert decide(error, state(has_poll_url=True)) == Poll(error)


# --- the delay ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "error", "delay"),
    [
        ({"attempts": 0}, drop(), 1.0),
        ({"attempts": 1}, drop(), 2.0),
        ({"attempts": 2}, drop(), 4.0),
        ({"attempts": 2, "retry": Retry(max_attempts=9, delay=10.0, jitter=0)}, drop(), 30.0),
        ({"server_retry": 250}, drop(), 0.25),  # the server's retry: replaces delay
        ({"server_retry": 250, "attempts": 2}, drop(), 1.0),  # and backs off from there
        ({"server_retry": 10**400}, drop(), 30.0),  # past any float: capped at max_delay
        ({"server_retry": 10**17, "retry": Retry(max_delay=float("inf"))}, drop(), 4e6),
        ({"attempts": 60, "retry": Retry(max_attempts=99, max_delay=float("inf"))}, drop(), 4e6),
        ({"retry": Retry(max_delay=float("inf"))}, status(503, retry_after=1e300), 4e6),
        ({}, status(429, retry_after=7.0), 7.0),  # Retry-After is honoured
        ({}, status(503, retry_after=3600.0), 30.0),  # capped at max_delay
        ({"retry": Retry(jitter=0.1), "random": 0.0}, drop(), 0.9),
        ({"retry": Retry(jitter=0.1), "random": 1.0}, drop(), 1.1),
    ],
)
def test_the_delay(given: dict[str, Any], error: Exception, delay: float) -> None:
    decision = decide(error, state(**given))  # type: ignore[arg-type]
    assert isinstance(decision, Reconnect)
    assert decision.delay == pytest.approx(delay)


# --- the budget -------------------------------------------------------------------------------


def test_the_attempts_run_out_with_retry_exhausted_chaining_the_last_error() -> None:
    error = drop()
    decision = decide(error, state(attempts=3))
    assert isinstance(decision, Fail) and isinstance(decision.error, RetryExhausted)
    assert decision.error.__cause__ is error and decision.error.attempts == 3
    assert URL in str(decision.error)


def test_a_failing_resume_hook_uses_up_the_budget_like_any_failed_attempt() -> None:
    hook = CallbackError("resume raised", url=URL)
    hook.__cause__ = ValueError("boom")
    assert isinstance(decide(hook, state(attempts=2, has_resume=True)), Reconnect)
    final = decide(hook, state(attempts=3, has_resume=True))
    assert isinstance(final, Fail) and isinstance(final.error, RetryExhausted)
    assert isinstance(final.error.__cause__.__cause__, ValueError)  # type: ignore[union-attr]


@pytest.mark.parametrize("never", [Retry(max_attempts=0)])
def test_no_reconnect_at_all(never: Retry) -> None:
    error = drop()
    assert decide(error, state(retry=never)) == Fail(error)


def test_should_retry_vetoes() -> None:
    error = drop()
    assert decide(error, state(), allows=lambda _: False) == Fail(error)
    assert decide(error, state(), allows=lambda _: True) == Reconnect(1.0, error)


# --- non-GET safety ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "given", "sent_again"),
    [
        (drop(sent=False), {}, True),  # never reached the server: DNS, refused, TLS
        (status(503), {}, True),  # the server answered: it ran nothing it will run again
        (drop(), {}, False),  # sent and broke (or no headers yet): it may be generating
        (ReadTimeout("no headers", url=URL), {}, False),
        (drop(), {"has_event_id": True}, True),  # the server can resume from the id
        (drop(), {"has_resume": True}, True),  # the hook says how to continue
        (drop(), {"reconnect_on_end": True}, True),  # a subscription: sending again is meant
        # An in-stream error that should_retry accepts: given up as itself, keeping .event.
        (server_error(), {"retry": Retry(should_retry=lambda e: True)}, False),
        (server_error(), {"retry": Retry(should_retry=lambda e: True), "has_resume": True}, True),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "REPORT"])
def test_a_non_get_request_is_sent_again_only_when_that_is_safe(
    method: str, error: Exception, given: dict[str, Any], sent_again: bool
) -> None:
    decision = decide(error, state(method=method, **given))  # type: ignore[arg-type]
    if sent_again:
        assert isinstance(decision, Reconnect)
    elif isinstance(error, ServerEventError):
        assert isinstance(decision, Fail) and isinstance(decision.error, ServerEventError)
        assert decision.error.event == error.event and "twice" in str(decision.error)
    else:
        assert isinstance(decision, Fail) and isinstance(decision.error, ConnectError)
        message = str(decision.error)
        assert method in message and "resume=" in message and "twice" in message
        assert decision.error.__cause__ is error


def test_a_get_is_always_sent_again() -> None:
    assert isinstance(decide(drop(), state(method="GET")), Reconnect)


# --- fail: an error the server reports inside the stream --------------------------------------


def test_an_in_stream_error_is_final_by_default() -> None:
    error = server_error()
    assert decide(error, state()) == Fail(error)


def test_an_in_stream_error_is_final_even_with_a_poll_url() -> None:
    # The server said the task failed: polling would hear the same, however it ends.
    error = server_error()
    assert decide(error, state(has_poll_url=True)) == Fail(error)
    declined = Retry(jitter=0, should_retry=lambda e: False)
    assert decide(error, state(has_poll_url=True, retry=declined)) == Fail(error)
    accepted = Retry(max_attempts=2, jitter=0, should_retry=lambda e: True)
    exhausted = decide(error, state(has_poll_url=True, retry=accepted, attempts=2))
    assert isinstance(exhausted, Fail) and isinstance(exhausted.error, RetryExhausted)
    unsafe = decide(error, state(has_poll_url=True, retry=accepted, method="POST"))
    assert isinstance(unsafe, Fail) and isinstance(unsafe.error, ServerEventError)


def test_a_wrong_resume_value_is_final_and_falls_back_to_polling() -> None:
    error = BadResumeValue("the resume= hook returned a wrong value", url=URL)
    assert decide(error, state()) == Fail(error)
    assert decide(error, state(has_poll_url=True)) == Poll(error)


def test_an_in_stream_error_is_resumed_when_should_retry_accepts_it() -> None:
    error = server_error()
    retry = Retry(jitter=0, should_retry=lambda e: isinstance(e, ServerEventError))
    assert decide(error, state(retry=retry)) == Reconnect(1.0, error)
    assert decide(error, state(retry=retry), allows=lambda _: False) == Fail(error)


def test_an_in_stream_error_of_a_post_follows_the_same_safety_rules() -> None:
    retry = Retry(jitter=0, should_retry=lambda e: True)
    error = server_error()
    for decision in (
        decide(error, state(retry=retry, method="POST")),
        decide(error, state(retry=retry, method="POST", has_poll_url=True)),
    ):
        assert isinstance(decision, (Fail, Poll)) and isinstance(decision.error, ServerEventError)
        assert decision.error.event == error.event
    assert isinstance(decide(error, state(retry=retry, method="POST", has_resume=True)), Reconnect)
