"""The next request, a pure function of the options, the ``resume`` overrides and the last
event ID. A stream request carries ``Accept: text/event-stream`` and ``Cache-Control:
no-cache`` (as EventSource does) and ``Last-Event-ID``; the caller's headers override the
first two, and the ``resume`` hook's override the caller's.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union
from urllib.parse import urljoin

from ._options import Options
from ._transport import Request

__all__ = ["RESUME_KEYS", "poll_request", "stream_request"]

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
    headers: dict[str, Any] = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    headers.update(options.headers or {})
    headers.update(overrides.get("headers") or {})
    params = {**(options.params or {}), **(overrides.get("params") or {})} or None
    body_json, body_data = options.json, options.data
    if "json" in overrides:
        body_json, body_data = overrides["json"], None
    if "data" in overrides:
        body_json, body_data = None, overrides["data"]
    if overrides.get("url"):
        url = urljoin(url, overrides["url"])
    if last_event_id:
        headers["Last-Event-ID"] = header_value(last_event_id)
    return _with_credentials(
        options, method, url, headers, params=params, json=body_json, data=body_data
    )


def poll_request(options: Options, url: str, last_event_id: Optional[str]) -> Request:
    """The request of the polling fallback: a GET for JSON, with ``Last-Event-ID``."""
    headers: dict[str, Any] = dict(options.headers or {})
    headers["Accept"] = "application/json"
    if last_event_id:
        headers["Last-Event-ID"] = header_value(last_event_id)
    return _with_credentials(options, "GET", url, headers)


def check_overrides(overrides: object) -> dict[str, Any]:
    """What a ``resume`` hook returned, checked: a dict (or None) of :data:`RESUME_KEYS`."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise TypeError(f"resume= must return a dict or None, got {type(overrides).__name__}")
    unknown = sorted(set(overrides) - RESUME_KEYS)
    if unknown:
        raise TypeError(
            f"resume= returned unknown keys {unknown}; it may return {sorted(RESUME_KEYS)}"
        )
    url = overrides.get("url")
    if url is not None and not isinstance(url, str):
        raise TypeError(f"resume= must return a str url, got {url!r}")
    return dict(overrides)


def header_value(text: str) -> Union[str, bytes]:
    """A header value as the spec sends it: the UTF-8 bytes (http.client would encode a str
    as Latin-1)."""
    return text if text.isascii() else text.encode("utf-8")


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
