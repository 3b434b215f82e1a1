"""Connection options: checked once, eagerly, with the bad value in the message; merged over a
manager's defaults. "Not given" is an option's absence, never ``None``: ``None`` means what
the option says (``read_timeout=None``: no limit, over a manager's default too).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import json
import os
import random
import re
import string
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

from ._models import Event, Status
from ._parser import DEFAULT_MAX_EVENT_SIZE
from ._retry import Retry

if TYPE_CHECKING:
    import requests

    from ._connection import Connection

__all__ = [
    "DEFAULT_RUNTIME",
    "Options",
    "Runtime",
    "build_options",
    "check_headers",
    "check_json",
    "check_url",
    "merge_options",
]

#: RFC 9110 "tchar": the characters of a method token.
_TOKEN_CHARACTERS = frozenset("!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters)
#: The methods the Fetch standard normalises to upper case; any other token is kept as given.
_NORMALISED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})
#: RFC 9110 field values: no control character but HTAB; requests refuses a leading
#: space (a Unicode one in a str, an ASCII one in bytes).
_HEADER_VALUE = re.compile(r"(?:[^\s\x00-\x1f\x7f][^\x00-\x08\x0a-\x1f\x7f]*)?")
_HEADER_BYTES = re.compile(r"(?:[^\s\x00-\x1f\x7f][^\x00-\x08\x0a-\x1f\x7f]*)?", re.ASCII)


def normalise_method(method: str) -> str:
    """``method`` as the connection reports it and decides by (a ``GET`` reconnects at the
    end of the stream): the Fetch standard's "normalize a method" (``post`` becomes
    ``POST``; ``Report`` stays as given). On the wire requests upper-cases every method, so
    ``Report`` is sent as ``REPORT``."""
    upper = method.upper()
    return upper if upper in _NORMALISED_METHODS else method


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The clock, the randomness and the interruptible wait a connection uses. Tests swap them
    for fakes so reconnect timing is checked without real sleeping. ``wait(stop, seconds)``
    returns True when ``stop`` was set (the wait was cut short)."""

    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    random: Callable[[], float] = random.random
    wait: Callable[[threading.Event, float], bool] = threading.Event.wait


@dataclasses.dataclass(frozen=True)
class Options:
    """Every option of a connection, checked. See the README's option table for the prose."""

    # Request
    method: str = "GET"
    params: Optional[Mapping[str, Any]] = None
    headers: Optional[Mapping[str, str]] = None
    json: Any = None
    data: Any = None
    session: Optional[requests.Session] = None
    auth: Any = None
    verify: Any = None
    cert: Any = None
    proxies: Optional[Mapping[str, str]] = None
    # Timing
    timeout: float = 15.0
    read_timeout: Optional[float] = 60.0
    # Reconnect and resume
    retry: Retry = Retry()
    last_event_id: Optional[str] = None
    resume: Optional[Callable[[Connection], Optional[Mapping[str, Any]]]] = None
    # Completion
    done: Optional[Callable[[Event], bool]] = None
    fail: Optional[Callable[[Event], bool]] = None
    reconnect_on_end: Optional[bool] = None
    # Delivery
    on_open: Optional[Callable[[Connection], Any]] = None
    on_message: Optional[Callable[[Event], Any]] = None
    on_error: Optional[Callable[[BaseException], Any]] = None
    on_complete: Optional[Callable[[Connection], Any]] = None
    on_close: Optional[Callable[[Connection], Any]] = None
    on_status: Optional[Callable[[Connection, Status, Status], Any]] = None
    on_comment: Optional[Callable[[str], Any]] = None
    queue_size: int = 1000
    dedup: bool = True
    max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE
    # Fallback
    poll_url: Optional[str] = None
    poll_interval: float = 5.0
    # create_sse_connection
    wait_open: bool = True


#: The real clock, randomness and wait.
DEFAULT_RUNTIME = Runtime()

_FIELDS = {field.name for field in dataclasses.fields(Options)}
_PUBLIC = sorted(_FIELDS)
_CALLBACKS = ("resume", "done", "fail", *(name for name in _PUBLIC if name.startswith("on_")))
_MERGED_DICTS = ("params", "headers", "proxies")


def build_options(url: str, options: Mapping[str, Any]) -> Options:
    """Check ``url`` and the keyword options of ``create_sse_connection``; raise ``TypeError``
    or ``ValueError`` naming the option, the bad value and what is expected."""
    check_url("url", url)
    unknown = next((name for name in options if name not in _FIELDS), None)
    if unknown is not None:
        close = difflib.get_close_matches(unknown, _PUBLIC, n=1)
        hint = (
            f"; did you mean {close[0]!r}?" if close else f"; the options are {', '.join(_PUBLIC)}"
        )
        raise TypeError(f"unknown option {unknown!r}{hint}")
    values = dict(options)
    if "retry" in values:
        values["retry"] = Retry.from_option(values["retry"])
    if values.get("wait_open", True) is None:
        values["wait_open"] = True
    if "data" in values:
        values["data"] = replayable(values["data"])
    built = Options(**values)
    _check(built)
    return built


def replayable(data: Any) -> Any:
    """``data`` as a body a reconnect can send again: a file or an iterator (a generator)
    can be read only once, so it is read here, into bytes; anything else is left as it is."""
    if data is None or isinstance(data, (str, bytes, bytearray, Mapping, list, tuple)):
        return data
    try:
        return bytes(memoryview(data))  # a memoryview, an array: what requests sends of it
    except TypeError:
        pass
    read = getattr(data, "read", None)
    if callable(read):
        content = read()
        return content.encode("utf-8") if isinstance(content, str) else content
    if isinstance(data, collections.abc.Iterator):
        return b"".join(map(_chunk_bytes, data))
    return data


def _chunk_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if not isinstance(chunk, int):  # bytes(5) would be five NULs
        try:
            return bytes(memoryview(chunk))
        except TypeError:
            pass
    raise TypeError(
        f"data= yields a {type(chunk).__name__}; a generator or iterator body must yield bytes "
        "or str (to send the bytes of b'...', pass them whole)"
    )


def merge_options(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A manager's defaults with a call's options over them: an option the call does not
    give is inherited; one it gives replaces the default, ``None`` included, except that dict
    options (params, headers, proxies) are merged key by key (``None`` adds nothing)."""
    merged = dict(defaults)
    if overrides.get("json") is not None or overrides.get("data") is not None:
        # A call's body replaces the manager's, of either kind.
        merged.pop("json", None)
        merged.pop("data", None)
    for name, value in overrides.items():
        if name in _MERGED_DICTS and name in merged:
            if value is None:
                continue
            if isinstance(merged[name], Mapping) and isinstance(value, Mapping):
                merged[name] = {**merged[name], **value}
                continue
        merged[name] = value
    return merged


def _check(options: Options) -> None:
    method = options.method
    if not isinstance(method, str) or not method or not set(method) <= _TOKEN_CHARACTERS:
        raise ValueError(
            f"method must be an HTTP method token such as 'GET', 'POST' or 'REPORT' (letters, "
            f"digits and !#$%&'*+-.^_`|~), got {method!r}"
        )
    if options.json is not None and options.data is not None:
        raise ValueError("pass either json= or data=, not both")
    if options.json is not None:
        check_json(options.json)
    for name in _MERGED_DICTS:
        value = getattr(options, name)
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    check_headers("headers", options.headers or {})
    _check_requests_options(options)
    _check_positive("timeout", options.timeout)
    if options.read_timeout is not None:
        _check_positive("read_timeout", options.read_timeout)
    _check_positive("poll_interval", options.poll_interval)
    for name in ("dedup", "wait_open"):
        if not isinstance(getattr(options, name), bool):
            raise TypeError(f"{name} must be True or False, got {getattr(options, name)!r}")
    if options.reconnect_on_end is not None and not isinstance(options.reconnect_on_end, bool):
        raise TypeError(
            f"reconnect_on_end must be None, True or False, got {options.reconnect_on_end!r}"
        )
    queue_size = options.queue_size
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"queue_size must be an int >= 1, got {queue_size!r}")
    size = options.max_event_size
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise ValueError(f"max_event_size must be a positive int or None, got {size!r}")
    last_id = options.last_event_id
    if last_id is not None and (not isinstance(last_id, str) or set(last_id) & {"\0", "\r", "\n"}):
        raise ValueError(f"last_event_id must be a str without NUL, CR or LF, got {last_id!r}")
    for name in _CALLBACKS:
        value = getattr(options, name)
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable, got {value!r}")
    if options.poll_url is not None:
        check_url("poll_url", options.poll_url)


def _check_requests_options(options: Options) -> None:
    """The options passed on to requests, checked here: requests would raise a TypeError of
    its own in the reader thread, naming no option."""
    data = options.data
    if data is not None and not isinstance(data, (str, bytes, bytearray, Mapping)):
        pairs = isinstance(data, (list, tuple)) and all(
            isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in data
        )
        if not pairs:
            raise TypeError(
                f"data must be bytes, str, a dict or a list of (key, value) pairs, a file or "
                f"an iterator of bytes, got {_short(data)}"
            )
    auth = options.auth
    if auth is not None and not callable(auth) and not _two_strings(auth):
        raise TypeError(
            f"auth must be a (user, password) tuple or a requests auth object, got {_short(auth)}"
        )
    cert = options.cert
    if cert is not None and not isinstance(cert, _PATHS) and not _two_strings(cert):
        raise TypeError(
            f"cert must be a file path or a (certificate, key) tuple of paths, got {_short(cert)}"
        )
    if options.verify is not None and not isinstance(options.verify, (bool, *_PATHS)):
        raise TypeError(
            f"verify must be True, False or a CA bundle path, got {_short(options.verify)}"
        )
    for scheme, proxy in (options.proxies or {}).items():
        if not isinstance(scheme, str) or not (proxy is None or isinstance(proxy, str)):
            raise TypeError(
                f"proxies must map schemes to proxy URLs (str or None), got {scheme!r}: "
                f"{_short(proxy)}"
            )


_PATHS = (str, bytes, os.PathLike)


def _two_strings(value: object) -> bool:
    """A (user, password) or (certificate, key) pair."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(part, (bytes, *_PATHS)) for part in value)
    )


def _short(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def check_headers(where: str, headers: Mapping[Any, Any]) -> None:
    """Raise ``TypeError`` or ``ValueError``, naming ``where`` and the header, for a header
    that cannot be sent."""
    for key, given in headers.items():
        if not isinstance(key, str) or not isinstance(given, (str, bytes, type(None))):
            raise TypeError(
                f"{where} must map str names to str or bytes values (None: do not send it), "
                f"got {key!r}: {given!r}"
            )
        value = "" if given is None else given  # None: requests leaves the header out
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if not key or not set(key) <= _TOKEN_CHARACTERS:
            raise ValueError(
                f"{where} holds a header that cannot be sent, {key!r}: {value!r}: a name is an "
                "HTTP token (letters, digits and !#$%&'*+-.^_`|~; no space, colon or line break)"
            )
        if not (_HEADER_BYTES if isinstance(value, bytes) else _HEADER_VALUE).fullmatch(text):
            raise ValueError(
                f"{where} holds a header that cannot be sent, {key!r}: {value!r}: a value must "
                "not start with whitespace nor hold control characters (CR, LF, NUL, DEL; a "
                "tab is allowed); send one header per key, without line breaks"
            )
        if not key.isascii() or not _is_latin1(text):
            raise ValueError(
                f"{where} holds a header that cannot be sent, {key!r}: {value!r}: HTTP sends "
                "a name as ASCII and a str value as Latin-1, which have no such character; "
                "pass the value as bytes (value.encode('utf-8')) if the server reads UTF-8"
            )


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def check_json(value: Any) -> None:
    """json= must encode as requests will encode it (no NaN or infinity either)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"json= must hold only dicts, lists, strings, finite numbers, booleans and None: "
            f"{error}"
        ) from None


def _check_positive(name: str, value: object) -> None:
    # NaN fails every comparison; inf and anything past TIMEOUT_MAX overflow the socket's and
    # the thread's waits.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= threading.TIMEOUT_MAX
    ):
        raise ValueError(
            f"{name} must be a finite number of seconds greater than 0 (at most "
            f"{threading.TIMEOUT_MAX:.0f}), got {value!r}"
        )


def check_url(name: str, url: object) -> None:
    """Raise TypeError or ValueError, naming ``name``, for anything but an absolute http(s)
    URL with a valid port."""
    if not isinstance(url, str):
        raise TypeError(f"{name} must be a str, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
    except ValueError as error:  # e.g. an unclosed "[" of an IPv6 address
        raise ValueError(f"{name} is not a valid URL ({error}): {url!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        hint = " (give a manager a base_url to use relative URLs)" if name == "url" else ""
        raise ValueError(f"{name} must be an absolute http:// or https:// URL, got {url!r}{hint}")
    try:
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"the port of {name} must be a number from 1 to 65535, got {url!r}")
