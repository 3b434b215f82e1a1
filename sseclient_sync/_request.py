"""The next request, a pure function of the options, the ``resume`` overrides and the last
event ID. A stream request carries ``Accept: text/event-stream`` and ``Cache-Control:
no-cache`` (as EventSource does), which the caller's headers override, then
``Last-Event-ID`` once an id is known (the latest id seen, over the caller's: a header that
stayed would resume every reconnect from the same point), and the ``resume`` hook's headers
override them all; names in any case.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union
from urllib.parse import urljoin, urlsplit

from ._exceptions import CallbackError
from ._options import Options, check_headers, check_json, replayable
from ._transport import Request

__all__ = ["RESUME_KEYS", "BadResumeValue", "check_overrides", "poll_request", "stream_request"]

#: What a ``resume(conn)`` hook may return.
RESUME_KEYS = frozenset({"url", "params", "headers", "json", "data"})


def stream_request(
    options: Options,
    method: str,
    url: str,
    last_event_id: Optional[str],
    overrides: Mapping[str, Any],
) -> Request:
    """The request for the next stream. ``overrides`` is what the last ``resume`` call
    returned: ``params`` and ``headers`` merge, ``json`` or ``data`` replace the body, ``url``
    (relative to the connection's URL) replaces the URL."""
    automatic: dict[str, Any] = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    headers = _merged(
        automatic, options.headers, _last_event_id(last_event_id), overrides.get("headers")
    )
    params = {**(options.params or {}), **(overrides.get("params") or {})} or None
    body_json, body_data = options.json, options.data
    if "json" in overrides:
        body_json, body_data = overrides["json"], None
    if "data" in overrides:
        body_json, body_data = None, overrides["data"]
    if overrides.get("url"):
        url = urljoin(url, overrides["url"])
    return _with_credentials(
        options, method, url, headers, params=params, json=body_json, data=body_data
    )


def poll_request(options: Options, url: str, last_event_id: Optional[str]) -> Request:
    """The request of the polling fallback: a GET for JSON, with ``Last-Event-ID``."""
    headers = _merged(
        options.headers, _last_event_id(last_event_id), {"Accept": "application/json"}
    )
    return _with_credentials(options, "GET", url, headers)


class BadResumeValue(CallbackError, TypeError):
    """``resume`` returned something no request can be made of. Final: the next attempt would
    call the same hook to the same end. A TypeError too, as any wrong return value."""


def check_overrides(overrides: object, url: Optional[str] = None) -> dict[str, Any]:
    """What a ``resume`` hook returned, checked: a dict (or None) of :data:`RESUME_KEYS`,
    ``params`` and ``headers`` dicts, headers that can be sent. Else :class:`BadResumeValue`
    naming ``url``."""
    if overrides is None:
        return {}
    try:
        if not isinstance(overrides, Mapping):
            raise TypeError(f"a {type(overrides).__name__}, not a dict")
        unknown = sorted(set(overrides) - RESUME_KEYS)
        if unknown:
            raise TypeError(f"unknown keys {unknown}")
        if not isinstance(overrides.get("url") or "", str):
            raise TypeError(f"url {overrides['url']!r}, not a str")
        if overrides.get("url"):
            _check_url(overrides["url"])
        for name in ("params", "headers"):
            value = overrides.get(name) or {}
            if not isinstance(value, Mapping):
                raise TypeError(f"{name} of type {type(value).__name__}, not a dict")
        check_headers("its headers", overrides.get("headers") or {})
        if overrides.get("json") is not None:
            check_json(overrides["json"])
        checked = dict(overrides)
        if "data" in checked:  # one request only, but a failed attempt may need it again
            checked["data"] = replayable(checked["data"])
    except (TypeError, ValueError) as error:
        hook = f"the resume= hook of {url}" if url else "the resume= hook"
        raise BadResumeValue(
            f"{hook} returned a wrong value: {error}; return None or a dict that may hold "
            f"{', '.join(sorted(RESUME_KEYS))}",
            url=url,
        ) from None
    return checked


def _check_url(url: str) -> None:
    """Raise ValueError for a URL no request can be made of (``http://[::1``, a port past
    65535), whatever the stream's URL it is joined to."""
    try:
        _ = urlsplit(url).port  # raises for a port past 65535
    except ValueError as error:
        raise ValueError(f"url {url!r} is not a valid URL ({error})") from None


def _last_event_id(last_event_id: Optional[str]) -> dict[str, Any]:
    """The Last-Event-ID layer: nothing while no id is known; once one is, the header, or
    none at all (None: the caller's goes too) when it is empty, as the spec sends it."""
    if last_event_id is None:
        return {}
    value = header_value(last_event_id)
    return {"Last-Event-ID": value or None}


#: What requests refuses at the start of a header value, and fetch() strips (spaces, tabs).
_AROUND_A_VALUE = " \t\x0b\x0c\x1c\x1d\x1e\x1f"


def header_value(text: str) -> Union[str, bytes]:
    """A header value as the spec sends it: the UTF-8 bytes (http.client would encode a str
    as Latin-1), without the ASCII whitespace around it that requests refuses before a value
    and fetch() strips (``id:  7`` is the id " 7": a browser resumes from "7")."""
    text = text.strip(_AROUND_A_VALUE)
    return text if text.isascii() else text.encode("utf-8")


def _merged(*layers: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The headers of ``layers``, each overriding the ones before it, names in any case. A
    value of None stays: requests then sends no such header, not even the session's."""
    merged: dict[str, tuple[str, Any]] = {}
    for layer in layers:
        for name, value in (layer or {}).items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def _with_credentials(
    options: Options, method: str, url: str, headers: Mapping[str, Any], **body: Any
) -> Request:
    return Request(
        method=method,
        url=url,
        headers=headers,
        auth=options.auth,
        verify=options.verify,
        cert=options.cert,
        proxies=options.proxies,
        **body,
    )
