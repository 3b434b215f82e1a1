"""The reconnect policy: how a stream ended, and the attempt state, in; a decision out.

Every rule of what follows the end of a stream lives in :func:`decide`: status classes, 204,
``Retry-After``, the server's ``retry:``, the attempt budget, the safety of sending a non-GET
request again, ``done``, ``fail``, ``reconnect_on_end`` and a failing ``resume`` hook. Pure:
no threads, sockets, clocks or requests; randomness comes in as a number.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Callable, Optional, Union

from ._exceptions import (
    CallbackError,
    ConnectError,
    HTTPStatusError,
    InternalError,
    ReadTimeout,
    RetryExhausted,
    ServerEventError,
    SSEError,
)
from ._retry import Retry

__all__ = [
    "RETRYABLE_STATUSES",
    "AttemptState",
    "Complete",
    "Decision",
    "Ended",
    "Fail",
    "Poll",
    "Reconnect",
    "Stop",
    "decide",
]

#: Statuses that go through the reconnect policy; any other non-200 fails at once.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))


class Ended(enum.Enum):
    """How a stream ended, when it was not by an error."""

    SERVER_END = "the server ended the body"
    NO_CONTENT = "the server answered 204: stop"
    DONE = "done(event) matched"
    RECONNECT = "reconnect() was called"
    CLOSE = "close() was called"


Ending = Union[Ended, SSEError]


@dataclasses.dataclass(frozen=True)
class AttemptState:
    """What the policy needs to know besides the ending.

    ``attempts`` counts consecutive failed attempts (reset once a stream delivers an event);
    ``server_retry`` is the stream's last ``retry:`` in milliseconds; ``has_event_id`` says a
    last event ID is known; ``random`` is a number in [0, 1) for the jitter.
    """

    url: str
    retry: Retry
    method: str = "GET"
    attempts: int = 0
    server_retry: Optional[int] = None
    has_event_id: bool = False
    has_resume: bool = False
    has_done: bool = False
    reconnect_on_end: Optional[bool] = None
    has_poll_url: bool = False
    was_open: bool = False
    random: float = 0.5


@dataclasses.dataclass(frozen=True)
class Complete:
    """The connection completed (204, ``done``, or a finished answer)."""


@dataclasses.dataclass(frozen=True)
class Stop:
    """``close()`` ended it: nothing more happens."""


@dataclasses.dataclass(frozen=True)
class Fail:
    """The connection fails with ``error``."""

    error: BaseException


@dataclasses.dataclass(frozen=True)
class Poll:
    """The stream failed for good; fall back to polling. ``error`` goes to ``on_error``."""

    error: BaseException


@dataclasses.dataclass(frozen=True)
class Reconnect:
    """Open a new stream after ``delay`` seconds. ``report`` goes to ``on_error`` first;
    ``counts`` says the attempt counts against the budget (``reconnect()`` does not)."""

    delay: float
    report: Optional[SSEError] = None
    counts: bool = True


Decision = Union[Complete, Stop, Fail, Poll, Reconnect]

Allows = Callable[[BaseException], bool]


def decide(ending: Ending, state: AttemptState, allows: Optional[Allows] = None) -> Decision:
    """What follows ``ending``. ``allows(error)`` is ``Retry.should_retry`` run safely by the
    caller (None: ``state.retry.allows``)."""
    allows = allows or state.retry.allows
    if ending is Ended.CLOSE:
        return Stop()
    if ending is Ended.RECONNECT:
        return Reconnect(0.0, counts=False)
    if ending in (Ended.NO_CONTENT, Ended.DONE):
        return Complete()
    report = True
    if ending is Ended.SERVER_END:
        if not _end_is_a_drop(state):
            return Complete()
        ending, report = _closed_error(state), False
    assert isinstance(ending, SSEError)
    if isinstance(ending, ServerEventError) and state.retry.should_retry is None:
        return _give_up(ending, state)  # the server said what went wrong: final by default
    if not is_retryable(ending):
        return _give_up(ending, state)
    if not _sending_again_is_safe(ending, state):
        return _give_up(_unsafe_replay_error(ending, state), state)
    return _retry_or_give_up(ending, state, allows, report=report)


def is_retryable(error: BaseException) -> bool:
    """Network failures, read timeouts, 5xx/408/429, a failing ``resume`` hook, a dead reader
    and an in-stream error go through the policy; anything else is final, as is a request
    that requests refused to send (``ConnectError.final``)."""
    if isinstance(error, HTTPStatusError):
        return error.status_code in RETRYABLE_STATUSES
    if isinstance(error, ConnectError):
        return not error.final
    if isinstance(error, CallbackError):  # a wrong return value (a TypeError) stays wrong
        return not isinstance(error, TypeError)
    return isinstance(error, (ReadTimeout, InternalError, ServerEventError))


def _end_is_a_drop(state: AttemptState) -> bool:
    """A normal end reconnects as EventSource does for GET, never for an answer of another
    method, unless ``done`` is awaited or ``reconnect_on_end`` says otherwise."""
    if state.reconnect_on_end is not None:
        return state.reconnect_on_end
    if state.has_done:
        return True
    return state.method == "GET" and state.retry.max_attempts > 0


def _sending_again_is_safe(error: SSEError, state: AttemptState) -> bool:
    """Sending a non-GET request again can run it twice (an LLM answer twice). It is safe
    when it surely never reached the server, when the server answered with a retryable
    status, when the server can resume it (an event id or a resume hook), or when the
    caller asked for it (``reconnect_on_end=True``: a long-lived subscription)."""
    return (
        state.method == "GET"
        or (isinstance(error, ConnectError) and not error.request_sent)
        or isinstance(error, HTTPStatusError)
        or state.has_event_id
        or state.has_resume
        or state.reconnect_on_end is True
    )


def _retry_or_give_up(
    error: SSEError, state: AttemptState, allows: Allows, *, report: bool
) -> Decision:
    retry = state.retry
    if retry.max_attempts == 0 or not allows(error):
        return _give_up(error, state)
    if retry.is_exhausted(state.attempts):
        exhausted = RetryExhausted(
            f"gave up on {state.url} after {state.attempts} reconnect attempts; the last "
            f"error: {error}. Raise Retry(max_attempts=...) or check the server",
            url=state.url,
            attempts=state.attempts,
        )
        exhausted.__cause__ = error
        return _give_up(exhausted, state)
    return Reconnect(backoff(error, state), error if report else None)


def _give_up(error: BaseException, state: AttemptState) -> Decision:
    """Poll when there is a poll URL, but never after the server's own in-stream error (or
    the end of the attempts to resume it): polling would hear the same."""
    reported = error.__cause__ if isinstance(error, RetryExhausted) else error
    if state.has_poll_url and not isinstance(reported, ServerEventError):
        return Poll(error)
    return Fail(error)


def backoff(error: SSEError, state: AttemptState) -> float:
    """Seconds before the next attempt: the server's ``Retry-After`` (capped at
    ``max_delay``), else the Retry's backoff with the server's ``retry:`` as its delay."""
    retry = state.retry
    retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
    if retry_after is not None:
        return min(retry_after, retry.max_delay, _LONGEST_WAIT)
    server_delay = None
    if state.server_retry is not None:  # (no float holds a number of over 308 digits)
        server_delay = min(state.server_retry, _LONGEST_SERVER_RETRY) / 1000.0
    wait = retry.backoff_time(
        state.attempts, server_delay=server_delay, random=lambda: state.random
    )
    return min(wait, _LONGEST_WAIT)


#: A server's ``retry:`` past this (in ms, some 31 years) waits as long: max_delay caps it.
_LONGEST_SERVER_RETRY = 10**12
#: The longest wait, in seconds (46 days): with max_delay=inf, backoff and Retry-After could
#: pass threading.TIMEOUT_MAX, which no thread can wait (4,294,967 s on Windows).
_LONGEST_WAIT = 4.0e6


def _closed_error(state: AttemptState) -> ConnectError:
    what = "ended the stream before the done marker" if state.has_done else "closed the stream"
    return ConnectError(f"{state.url} {what}", url=state.url)


def _unsafe_replay_error(error: SSEError, state: AttemptState) -> SSEError:
    unsafe = (
        "sending it again could run it twice (an LLM would generate the answer again), and "
        "the stream has no event ids to resume from. Pass resume= to continue it (for example "
        "with an offset)"
    )
    resend = "reconnect_on_end=True for a subscription that may be sent again"
    if isinstance(error, ServerEventError):  # the server's own words, and its event
        return ServerEventError(
            f"{error}; the {state.method} request is not sent again: {unsafe} or {resend}",
            url=state.url,
            event=error.event,
        )
    what = "broke off" if state.was_open else "reached the server but got no answer"
    failure = ConnectError(
        f"the {state.method} request to {state.url} {what} ({error}); {unsafe}, {resend}, or "
        "raise read_timeout if the server is slow to start its answer",
        url=state.url,
    )
    failure.__cause__ = error
    return failure
