"""Retry: the arithmetic of waiting (backoff, cap, jitter, the server's ``retry:``) and the
attempt budget, as an immutable value with pure methods; ``_policy`` applies it.
"""

from __future__ import annotations

import dataclasses
import random as _random
from typing import Callable, Optional, Union

__all__ = ["Retry", "RetryOption"]


@dataclasses.dataclass(frozen=True)
class Retry:
    """How to reconnect after a stream fails or ends.

    Before attempt ``n + 1`` (``n`` counting from 0 since the stream last delivered an event)
    the connection waits ``delay * backoff ** n`` seconds, capped at ``max_delay``, then moved
    by up to ``jitter`` of itself either way (``jitter=0.1``: ±10%). A ``retry:`` field from the
    server replaces ``delay``. After ``max_attempts`` consecutive failed attempts the connection
    gives up with :class:`RetryExhausted`; ``max_attempts=0`` never reconnects.
    ``should_retry(error) -> bool`` may veto a reconnect for an error that would otherwise be
    retried.
    """

    max_attempts: int = 3
    delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.1
    should_retry: Optional[Callable[[BaseException], bool]] = None

    def __post_init__(self) -> None:
        _check_number("max_attempts", self.max_attempts, integer=True)
        for name in ("delay", "backoff", "max_delay", "jitter"):
            _check_number(name, getattr(self, name))
        if self.backoff < 1:
            raise ValueError(f"Retry(backoff=...) must be >= 1, got {self.backoff!r}")
        if self.jitter > 1:
            raise ValueError(f"Retry(jitter=...) must be between 0 and 1, got {self.jitter!r}")
        if self.should_retry is not None and not callable(self.should_retry):
            raise TypeError(f"Retry(should_retry=...) must be callable, got {self.should_retry!r}")

    @classmethod
    def from_option(cls, value: RetryOption) -> Retry:
        """Turn the ``retry=`` option into a Retry: an int ``n`` means
        ``Retry(max_attempts=n)``; ``False`` and ``0`` mean never reconnect; ``None`` and
        ``True`` mean the default ``Retry()``."""
        if isinstance(value, Retry):
            return value
        if value is False:
            return cls(max_attempts=0)
        if value is None or value is True:
            return cls()
        if isinstance(value, int):
            return cls(max_attempts=value)
        raise TypeError(f"retry must be a Retry, an int (max attempts) or False, got {value!r}")

    def is_exhausted(self, attempts: int) -> bool:
        """True when ``attempts`` consecutive failed attempts use up the budget."""
        return attempts >= self.max_attempts

    def allows(self, error: BaseException) -> bool:
        """Whether ``should_retry`` lets this error be retried (True when there is none)."""
        return self.should_retry is None or bool(self.should_retry(error))

    def backoff_time(
        self,
        attempt: int,
        *,
        server_delay: Optional[float] = None,
        random: Callable[[], float] = _random.random,
    ) -> float:
        """Seconds to wait before attempt ``attempt + 1``.

        ``server_delay`` (seconds, from the stream's ``retry:`` field) replaces ``delay``;
        ``random`` returns a float in [0, 1) and is injectable for tests.
        """
        base = self.delay if server_delay is None else server_delay
        try:
            wait = min(base * float(self.backoff) ** attempt, self.max_delay)
        except OverflowError:  # a huge attempt number: the cap applies, unless there is no wait
            wait = self.max_delay if base > 0 else 0.0
        spread = self.jitter * (2.0 * random() - 1.0)
        return max(0.0, wait * (1.0 + spread))


RetryOption = Union[Retry, int, bool, None]


def _check_number(name: str, value: object, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    # `not value >= 0` also rejects NaN, which passes every `<` comparison.
    if isinstance(value, bool) or not isinstance(value, kinds) or not value >= 0:
        kind = "a non-negative int" if integer else "a non-negative number"
        raise ValueError(f"Retry({name}=...) must be {kind}, got {value!r}")
