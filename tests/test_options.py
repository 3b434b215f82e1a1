"""build_options / merge_options (sseclient_sync/_options.py): every option checked eagerly,
with the option and the bad value in the message; a manager's defaults merged under a call's
options. Pure: nothing here opens a connection."""

from __future__ import annotations

import array
import copy
import dataclasses
import math
import pathlib
from typing import Any

import pytest

from sseclient_sync import Retry
from sseclient_sync._options import Options, build_options, merge_options, normalise_method
from sseclient_sync._parser import DEFAULT_MAX_EVENT_SIZE

URL = "http://127.0.0.1:8000/stream"

CALLBACKS = [
    "resume",
    "done",
    "on_open",
    "on_message",
    "on_error",
    "on_complete",
    "on_close",
    "on_status",
]


def build(**options: Any) -> Options:
    return build_options(URL, options)


# --- the defaults ----------------------------------------------------------------------------


def test_no_options_give_the_documented_defaults() -> None:
    options = build()
    assert options == Options()
    assert options.method == "GET"
    assert options.timeout == 15.0
    assert options.read_timeout == 60.0
    assert options.retry == Retry()
    assert options.queue_size == 1000
    assert options.dedup is True
    assert options.max_event_size == DEFAULT_MAX_EVENT_SIZE == 16 * 1024 * 1024
    assert options.poll_url is None
    assert options.poll_interval == 5.0
    assert options.last_event_id is None


def test_options_are_immutable() -> None:
    options = build(timeout=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 4  # type: ignore[misc]


def test_none_means_what_the_option_says_it_means() -> None:
    assert build(retry=None) == Options()  # the default Retry(), as everywhere
    assert build(read_timeout=None).read_timeout is None  # no limit
    assert build(max_event_size=None).max_event_size is None
    assert build(headers=None, on_message=None) == Options()


@pytest.mark.parametrize("name", ["method", "timeout", "queue_size", "dedup", "poll_interval"])
def test_none_is_no_value_for_an_option_without_a_none_meaning(name: str) -> None:
    with pytest.raises((TypeError, ValueError), match=name):
        build(**{name: None})


def test_a_call_gives_none_to_override_a_managers_default() -> None:
    defaults = {"read_timeout": 30.0, "headers": {"A": "1"}, "retry": 5}
    merged = merge_options(defaults, {"read_timeout": None, "headers": None, "retry": None})
    assert merged == {"read_timeout": None, "headers": {"A": "1"}, "retry": None}
    assert merge_options(defaults, {}) == defaults  # not given: inherited


def test_good_values_are_kept() -> None:
    def on_message(event: object) -> None:
        pass

    options = build(
        method="POST",
        params={"q": "1"},
        headers={"Authorization": "Bearer t"},
        json={"prompt": "hi"},
        timeout=2.5,
        read_timeout=7,
        last_event_id="41",
        on_message=on_message,
        queue_size=1,
        dedup=False,
        max_event_size=10,
        poll_url="https://127.0.0.1:8000/poll",
        poll_interval=0.5,
    )
    assert options.method == "POST"
    assert options.params == {"q": "1"}
    assert options.headers == {"Authorization": "Bearer t"}
    assert options.json == {"prompt": "hi"}
    assert (options.timeout, options.read_timeout) == (2.5, 7)
    assert options.last_event_id == "41"
    assert options.on_message is on_message
    assert (options.queue_size, options.dedup, options.max_event_size) == (1, False, 10)
    assert (options.poll_url, options.poll_interval) == ("https://127.0.0.1:8000/poll", 0.5)


def test_build_options_does_not_mutate_the_callers_values() -> None:
    given: dict[str, Any] = {
        "headers": {"X-A": "1"},
        "params": {"a": "1"},
        "retry": 5,
        "proxies": {"http": "http://127.0.0.1:3128"},
    }
    before = copy.deepcopy(given)
    build_options(URL, given)
    assert given == before


# --- unknown options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("retyr", "retry"),
        ("on_mesage", "on_message"),
        ("timout", "timeout"),
        ("readtimeout", "read_timeout"),
        ("header", "headers"),
        ("Method", "method"),
        ("last_id", "last_event_id"),
    ],
)
def test_an_unknown_option_is_a_type_error_with_a_suggestion(typo: str, meant: str) -> None:
    with pytest.raises(TypeError) as caught:
        build_options(URL, {typo: 1})
    message = str(caught.value)
    assert repr(typo) in message
    assert f"did you mean {meant!r}" in message


def test_an_unknown_option_with_no_close_match_lists_the_options() -> None:
    with pytest.raises(TypeError) as caught:
        build_options(URL, {"zzz": 1})
    message = str(caught.value)
    assert "'zzz'" in message
    assert "did you mean" not in message
    for name in ("retry", "on_message", "poll_url"):
        assert name in message
    # The private test seams are not advertised.
    assert "runtime" not in message
    assert "transport" not in message


# --- each bad value: a clear error naming the option -----------------------------------------


def check_error(error_type: type[Exception], name: str, value: Any, **options: Any) -> str:
    with pytest.raises(error_type) as caught:
        build(**{name: value}, **options)
    message = str(caught.value)
    assert name in message
    return message


@pytest.mark.parametrize("method", ["get", "post", "Put", "PATCH", "DELETE"])
def test_method_is_case_insensitive(method: str) -> None:
    assert build(method=method).method == method


@pytest.mark.parametrize("method", ["REPORT", "PROPFIND", "QUERY", "M-SEARCH", "x!#$%&'*+.^_`|~9"])
def test_any_rfc_9110_method_token_is_accepted(method: str) -> None:
    assert build(method=method).method == method


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("post", "POST"),
        ("Get", "GET"),
        ("delete", "DELETE"),
        ("report", "report"),
        ("Query", "Query"),
    ],
)
def test_methods_are_normalised_as_the_fetch_standard_does(given: str, sent: str) -> None:
    assert normalise_method(given) == sent


@pytest.mark.parametrize("method", ["", "G ET", "GET\r\n", "(GET)", "GÉT", 5])
def test_bad_method(method: Any) -> None:
    message = check_error(ValueError, "method", method)
    assert repr(method) in message


def test_json_and_data_together() -> None:
    with pytest.raises(ValueError) as caught:
        build(json={"a": 1}, data=b"a=1")
    assert "json" in str(caught.value)
    assert "data" in str(caught.value)


@pytest.mark.parametrize("body", [{"tags": {"a", "b"}}, [float("nan")], {"when": object()}])
def test_json_that_cannot_be_encoded(body: Any) -> None:
    check_error(TypeError, "json", body)


def test_json_alone_and_data_alone_are_fine() -> None:
    assert build(json=[1, 2]).json == [1, 2]
    assert build(data="a=1").data == "a=1"


@pytest.mark.parametrize("name", ["timeout", "read_timeout", "poll_interval"])
@pytest.mark.parametrize("value", [0, -1, -0.5, "5", True, math.nan, math.inf, -math.inf, 1e10])
def test_bad_durations(name: str, value: Any) -> None:
    message = check_error(ValueError, name, value)
    assert repr(value) in message


def test_read_timeout_none_disables_it() -> None:
    assert build(read_timeout=None).read_timeout is None


def test_timeout_none_is_refused_not_taken_for_no_timeout() -> None:
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds"):
        build(timeout=None)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_bad_queue_size(value: Any) -> None:
    message = check_error(ValueError, "queue_size", value)
    assert repr(value) in message


def test_queue_size_one_is_fine() -> None:
    assert build(queue_size=1).queue_size == 1


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "1024"])
def test_bad_max_event_size(value: Any) -> None:
    message = check_error(ValueError, "max_event_size", value)
    assert repr(value) in message


def test_max_event_size_none_means_no_bound() -> None:
    assert build(max_event_size=None).max_event_size is None


@pytest.mark.parametrize("value", ["a\0b", "a\rb", "a\nb", "\n", 42, b"42"])
def test_bad_last_event_id(value: Any) -> None:
    message = check_error(ValueError, "last_event_id", value)
    assert repr(value) in message


@pytest.mark.parametrize("value", ["", "42", "caf\u00e9", "\u2028 is not a line break in SSE"])
def test_good_last_event_id(value: str) -> None:
    assert build(last_event_id=value).last_event_id == value


@pytest.mark.parametrize("name", CALLBACKS)
def test_a_callback_that_is_not_callable(name: str) -> None:
    message = check_error(TypeError, name, "print")
    assert "'print'" in message


@pytest.mark.parametrize("name", CALLBACKS)
def test_any_callable_is_a_callback(name: str) -> None:
    class Handler:
        def __call__(self, *args: Any) -> None:
            pass

    handler = Handler()
    assert getattr(build(**{name: handler}), name) is handler


@pytest.mark.parametrize("name", ["params", "headers", "proxies"])
@pytest.mark.parametrize("value", [[("a", "1")], "a=1"])
def test_dict_options_must_be_dicts(name: str, value: Any) -> None:
    message = check_error(TypeError, name, value)
    assert type(value).__name__ in message


def test_a_header_value_that_is_not_a_string_is_rejected_eagerly() -> None:
    message = check_error(TypeError, "headers", {"X-Count": 5})
    assert "X-Count" in message


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Token": "abc\r\nEvil: 1"},
        {"X-Token": "abc\n"},
        {"X-Token": "a\0b"},
        {"X-Token": b"a\rb"},
        {"X-Token": " leading space"},
        {"X-Bad\r\nName": "1"},
        {"X:Token": "1"},
        {"": "1"},
        {"X\0": "1"},
        {"X-Name": "café ☃"},  # past Latin-1: http.client could not encode it
        {"X-Nämé": "1"},  # a name is sent as ASCII
        # RFC 9110: a name is a token, a value holds no control character but HTAB
        {"Bad Name": "1"},
        {"X(Y)": "1"},
        {"X@Y": "1"},
        {"X\tY": "1"},
        {"X\x01": "1"},
        {"X": "v\x7f"},
        {"X": "v\x1bw"},
        {"X": b"v\x00"},
    ],
)
def test_a_header_that_cannot_be_sent_is_rejected_eagerly(headers: dict[str, Any]) -> None:
    message = check_error(ValueError, "headers", headers)
    assert repr(next(iter(headers))) in message


def test_headers_requests_sends_are_kept() -> None:
    headers = {
        "X-Empty": "",
        "!#$%&'*+-.^_`|~09azAZ": "a b\tc",
        "X-Bytes": "é ☃".encode(),
        "X-Latin-1": "café",
    }
    assert build(headers=headers).headers == headers


def test_a_calls_body_replaces_a_managers_body_of_either_kind() -> None:
    assert merge_options({"json": {"a": 1}}, {"data": "x"}) == {"data": "x"}
    assert merge_options({"data": "x"}, {"json": {"a": 1}}) == {"json": {"a": 1}}
    assert merge_options({"data": "x"}, {"json": None}) == {"data": "x", "json": None}


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/stream",
        "127.0.0.1:8000/stream",
        "http://",
        "http:///stream",
        "stream",
        "",
        "http://127.0.0.1:99999/stream",
        "http://127.0.0.1:0/stream",
        "http://127.0.0.1:port/stream",
        "http://[::1/stream",
    ],
)
def test_bad_url(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        build_options(url, {})
    assert "url" in str(caught.value)
    assert repr(url) in str(caught.value)


def test_relative_url_says_to_use_a_base_url() -> None:
    with pytest.raises(ValueError) as caught:
        build_options("/stream", {})
    assert "'/stream'" in str(caught.value)
    assert "base_url" in str(caught.value)


@pytest.mark.parametrize("url", [None, b"http://127.0.0.1/stream", 80])
def test_url_must_be_a_string(url: Any) -> None:
    with pytest.raises(TypeError, match="url"):
        build_options(url, {})


@pytest.mark.parametrize("url", ["http://127.0.0.1/s", "HTTPS://127.0.0.1:8443/s?a=1"])
def test_good_urls(url: str) -> None:
    build_options(url, {})


@pytest.mark.parametrize("poll_url", ["/poll", "ftp://127.0.0.1/poll", "poll"])
def test_bad_poll_url(poll_url: str) -> None:
    message = check_error(ValueError, "poll_url", poll_url)
    assert repr(poll_url) in message


def test_poll_url_must_be_a_string() -> None:
    check_error(TypeError, "poll_url", 5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("data", 123),
        ("data", 1.5),
        ("data", True),
        ("data", object()),
        ("data", [1, 2]),
        ("auth", "user:pass"),
        ("auth", ("a",)),
        ("auth", ("a", "b", "c")),
        ("auth", 5),
        ("cert", 123),
        ("cert", ("a", 1)),
        ("verify", ["/etc/ssl/ca.pem"]),
        ("verify", 1.0),
        ("proxies", {"http": 5}),
    ],
)
def test_options_passed_to_requests_are_checked_where_they_are_given(
    name: str, value: Any
) -> None:
    # requests raised its own TypeError in the reader thread, naming no option
    check_error(TypeError, name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("data", [("a", "1"), ("b", "2")]),
        ("data", bytearray(b"x")),
        ("auth", ("user", "password")),
        ("auth", lambda request: request),
        ("cert", "/tmp/client.pem"),
        ("cert", ("/tmp/client.crt", "/tmp/client.key")),
        ("cert", pathlib.Path("/tmp/client.pem")),
        ("verify", pathlib.Path("/etc/ssl/ca.pem")),
        ("verify", False),
        ("verify", "/etc/ssl/ca.pem"),
        ("proxies", {"http": None, "https": "http://127.0.0.1:3128"}),
    ],
)
def test_options_requests_takes_are_kept(name: str, value: Any) -> None:
    assert getattr(build(**{name: value}), name) == value


@pytest.mark.parametrize(
    "data", [memoryview(b"abc"), array.array("B", b"abc"), bytearray(b"abc")], ids=type
)
def test_a_bytes_like_body_is_sent_as_its_bytes(data: Any) -> None:
    assert bytes(build(data=data).data) == b"abc"


@pytest.mark.parametrize(("name", "value"), [("verify", b"/etc/ssl/ca.pem"), ("cert", b"/c.pem")])
def test_bytes_paths_are_paths(name: str, value: bytes) -> None:
    assert getattr(build(**{name: value}), name) == value


def test_a_header_given_none_is_left_out_as_requests_does() -> None:
    assert build(headers={"Cache-Control": None}).headers == {"Cache-Control": None}


def test_a_bytes_header_value_may_start_with_a_byte_that_is_unicode_whitespace() -> None:
    # requests checks bytes values with an ASCII \S: b"\xa0" is obs-text, not a space
    assert build(headers={"X": b"\xa0v"}).headers == {"X": b"\xa0v"}
    check_error(ValueError, "headers", {"X": "\xa0v"})  # a str value: requests refuses it


@pytest.mark.parametrize("value", [1, 0, "yes"])
def test_reconnect_on_end_is_none_or_a_bool_not_a_truthy_value(value: Any) -> None:
    # 1 == True: 1 was accepted, then read as True by one rule and as "not True" by another
    message = check_error(TypeError, "reconnect_on_end", value)
    assert repr(value) in message


# --- retry coercion --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (5, Retry(max_attempts=5)),
        (1, Retry(max_attempts=1)),
        (0, Retry(max_attempts=0)),
        (False, Retry(max_attempts=0)),
        (True, Retry()),
        (None, Retry()),  # None is "not given", like every other option
    ],
)
def test_retry_is_coerced(given: Any, expected: Retry) -> None:
    assert build(retry=given).retry == expected


def test_a_retry_is_kept_as_it_is() -> None:
    retry = Retry(max_attempts=9, delay=0.25)
    assert build(retry=retry).retry is retry


@pytest.mark.parametrize(("given", "error"), [("3", TypeError), (2.5, TypeError), (-1, ValueError)])
def test_a_bad_retry(given: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        build(retry=given)
    assert repr(given) in str(caught.value)


# --- merge_options ---------------------------------------------------------------------------


def test_merge_a_call_option_replaces_the_default() -> None:
    merged = merge_options({"timeout": 5.0, "method": "POST"}, {"timeout": 1.0})
    assert merged == {"timeout": 1.0, "method": "POST"}


def test_merge_an_option_not_given_inherits_the_default() -> None:
    merged = merge_options({"timeout": 5.0, "on_message": print}, {"read_timeout": 2.0})
    assert merged == {"timeout": 5.0, "on_message": print, "read_timeout": 2.0}


def test_merge_none_replaces_the_default() -> None:
    merged = merge_options({"read_timeout": 5.0, "on_message": print}, {"on_message": None})
    assert build_options(URL, merged).on_message is None
    merged = merge_options({"read_timeout": 5.0}, {"read_timeout": None})
    assert build_options(URL, merged).read_timeout is None


@pytest.mark.parametrize("name", ["params", "headers", "proxies"])
def test_merge_dict_options_key_by_key(name: str) -> None:
    merged = merge_options({name: {"a": "1", "b": "2"}}, {name: {"b": "3", "c": "4"}})
    assert merged[name] == {"a": "1", "b": "3", "c": "4"}


def test_merge_a_dict_option_given_only_on_one_side() -> None:
    assert merge_options({"headers": {"a": "1"}}, {})["headers"] == {"a": "1"}
    assert merge_options({}, {"headers": {"a": "1"}})["headers"] == {"a": "1"}


@pytest.mark.parametrize(
    ("name", "default", "override"),
    [
        ("json", {"a": 1, "b": 2}, {"c": 3}),
        ("retry", Retry(max_attempts=9), 2),
        ("method", "GET", "POST"),
        ("last_event_id", "1", "2"),
        ("on_message", print, repr),
    ],
)
def test_merge_other_options_replace_whole(name: str, default: Any, override: Any) -> None:
    assert merge_options({name: default}, {name: override})[name] == override


def test_merge_does_not_mutate_either_side() -> None:
    defaults: dict[str, Any] = {"headers": {"a": "1"}, "params": {"p": "1"}, "timeout": 5.0}
    overrides: dict[str, Any] = {"headers": {"b": "2"}, "params": {"p": "2"}, "timeout": None}
    defaults_before = copy.deepcopy(defaults)
    overrides_before = copy.deepcopy(overrides)
    merged = merge_options(defaults, overrides)
    assert defaults == defaults_before
    assert overrides == overrides_before
    merged["headers"]["c"] = "3"
    merged["timeout"] = 1.0
    assert defaults == defaults_before
    assert overrides == overrides_before


def test_merged_options_build() -> None:
    defaults = {"headers": {"Authorization": "Bearer t"}, "retry": 2, "timeout": 3.0}
    options = build_options(
        URL, merge_options(defaults, {"headers": {"X-Trace": "1"}})
    )
    assert options.headers == {"Authorization": "Bearer t", "X-Trace": "1"}
    assert options.retry == Retry(max_attempts=2)
    assert options.timeout == 3.0


def test_a_body_iterator_must_yield_bytes_or_str() -> None:
    with pytest.raises(TypeError, match="must yield bytes or str"):
        build_options("http://127.0.0.1:9/s", {"data": iter(b"hi")})
    chunks = iter(["a", b"b", bytearray(b"c"), array.array("B", b"d")])
    assert build_options("http://127.0.0.1:9/s", {"data": chunks}).data == b"abcd"
