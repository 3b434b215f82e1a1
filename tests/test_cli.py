"""The command line, through main(argv) and as a real subprocess, against the loopback server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Iterator

import pytest

from sseclient_sync import Event
from sseclient_sync._cli import _parser, main
from sseclient_sync.testing import Reply, Silence, SSEServer, sse


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_text_format_prints_data_and_names_named_events(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route(
        "/s",
        Reply(body=[sse(Event(data="hello"), Event(event="tick", data="1"), Event(data="a\nb"))]),
    )
    code, out, err = run(capsys, server.url_for("/s"), "--retries", "0")
    assert code == 0, err
    assert out == "hello\ntick: 1\na\nb\n"


def test_json_format_is_one_object_per_line(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="x", id="7"), Event(event="e", data="é"))]))
    code, out, _ = run(capsys, server.url_for("/s"), "--format", "json", "--retries", "0")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {"event": "message", "data": "x", "id": "7", "retry": None},
        {"event": "e", "data": "é", "id": "7", "retry": None},
    ]


def test_method_headers_json_body_and_last_event_id_are_sent(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/chat", Reply(body=[sse(Event(data="ok"))]))
    code, out, _ = run(
        capsys,
        server.url_for("/chat"),
        "-X",
        "post",
        "-H",
        "Authorization: Bearer t0k",
        "-H",
        "X-Trace:  42 ",
        "--json",
        '{"prompt": "hi"}',
        "--last-event-id",
        "5",
    )
    assert (code, out) == (0, "ok\n")
    request = server.requests[0]
    assert request.method == "POST"
    assert request.header("authorization") == "Bearer t0k"
    assert request.header("x-trace") == "42"
    assert request.header("last-event-id") == "5"
    assert request.json() == {"prompt": "hi"}


def test_data_body_is_sent_raw(server: SSEServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.route("/p", Reply(body=[sse(Event(data="ok"))]))
    code, _, _ = run(capsys, server.url_for("/p"), "-X", "PUT", "--data", "a=1&b=2")
    assert code == 0
    assert server.requests[0].body == b"a=1&b=2"


def test_max_events_exits_zero_while_the_stream_goes_on(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/s", Reply(body=[sse(*(Event(data=str(n)) for n in range(5))), Silence()]))
    code, out, _ = run(capsys, server.url_for("/s"), "--max-events", "3")
    assert (code, out) == (0, "0\n1\n2\n")


def test_done_data_ends_without_printing_the_marker(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/s", Reply(body=["data: tok\n\n", "data:  [DONE] \r\n\r\n", Silence()]))
    code, out, _ = run(capsys, server.url_for("/s"), "--done-data", "[DONE]")
    assert (code, out) == (0, "tok\n")
    assert len(server.requests) == 1


def test_failure_is_one_line_on_stderr_and_exit_1(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route(
        "/gone",
        Reply(status=404, headers={"Content-Type": "application/json"}, body=['{"error":\n"no"}']),
    )
    code, out, err = run(capsys, server.url_for("/gone"))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("sseclient-sync: error: ")
    assert "404" in err and server.url_for("/gone") in err


def test_connection_refused_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with SSEServer() as closed:
        url = closed.url_for("/s")
    code, _, err = run(capsys, url, "--retries", "0", "--timeout", "2")
    assert code == 1
    assert "could not connect" in err


def test_verbose_prints_status_changes_on_stderr(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="x", id="1"))]))
    code, out, err = run(capsys, server.url_for("/s"), "-v", "--retries", "0")
    assert (code, out) == (0, "x\n")
    assert f"[open] {server.url_for('/s')}" in err
    assert "[completed]" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["-H", "no-colon-here"],
        ["--json", "{not json"],
        ["--max-events", "0"],
        ["--timeout", "-1"],
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--read-timeout", "nan"],
        ["--read-timeout", "inf"],
        ["--retries", "x"],
        ["--format", "xml"],
        ["--json", "{}", "--data", "x"],
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["http://127.0.0.1:9/", *argv])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["0", "0.0", "0.00", "00", "0e0", "-0", "none", "None", "NONE"])
def test_any_zero_or_none_read_timeout_means_no_limit(text: str) -> None:
    args = _parser().parse_args(["http://127.0.0.1:9/", "--read-timeout", text])
    assert args.read_timeout is None


def test_read_timeout_help_says_it_counts_from_the_request() -> None:
    help_text = _parser().format_help()
    assert "from the moment the request is sent" in " ".join(help_text.split())


def test_bad_url_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "not-a-url")
    assert code == 1
    assert "http://" in err


def test_demo_reports_nothing_lost_or_duplicated(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "Last-Event-ID: 20" in out
    assert out.rstrip().splitlines()[-1] == "completed: 40 events, 0 lost, 0 duplicated"


def _spawn(*argv: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="0")
    return subprocess.Popen(
        [sys.executable, "-m", "sseclient_sync", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_subprocess_prints_each_event_as_it_arrives(server: SSEServer) -> None:
    # The server holds the second event back until the test has read the first line: a CLI
    # that buffered its output (or a reader that waited for more bytes) would only show the
    # first line after the server gave up waiting, and the handshake below would record False.
    first_line_read = threading.Event()
    handshake: list[bool] = []

    def body() -> Iterator[str]:
        yield "data: first\n\n"
        handshake.append(first_line_read.wait(10))
        yield "data: second\n\n"

    server.route("/s", lambda _request: Reply(body=body(), framing="close"))
    process = _spawn(server.url_for("/s"), "--retries", "0")
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        first_line_read.set()
        rest, err = process.communicate(timeout=15)
    finally:
        process.kill()
        process.wait(5)
    assert first == "first\n"
    assert rest == "second\n", err
    assert process.returncode == 0
    assert handshake == [True]
    assert server.requests[0].header("accept") == "text/event-stream"


def test_subprocess_ctrl_c_closes_and_exits_130(server: SSEServer) -> None:
    server.route("/s", Reply(body=["data: x\n\n", Silence()]))
    process = _spawn(server.url_for("/s"))
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "x\n"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode == 130, err
    assert "Traceback" not in err


def test_subprocess_whose_reader_goes_away_exits_zero_quietly(server: SSEServer) -> None:
    # `python -m sseclient_sync URL | head -1`: head closes the pipe after one line.
    events = [Event(data=f"e{n}", id=str(n)) for n in range(5000)]
    server.route("/s", Reply(body=[sse(*events), Silence()]))
    with _spawn(server.url_for("/s"), "--retries", "0") as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            assert process.stdout.readline() == "e0\n"
            process.stdout.close()  # what head does once it has its line
            assert process.wait(timeout=15) == 0
            assert process.stderr.read() == ""
        finally:
            process.kill()


def test_json_null_is_sent_as_a_json_body(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # json=None means "no body" to requests: --json null must still send one.
    server.route("/p", Reply(body=[sse(Event(data="ok"))]))
    code, _, err = run(capsys, server.url_for("/p"), "-X", "POST", "--json", "null")
    assert code == 0, err
    assert server.requests[0].body == b"null"
    assert server.requests[0].header("content-type") == "application/json"


def test_a_repeated_header_sends_every_value(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/s", Reply(body=[sse(Event(data="ok"))]))
    code, _, err = run(
        capsys,
        server.url_for("/s"),
        "--retries",
        "0",
        "-H",
        "X-Tag: a",
        "-H",
        "x-tag: b",
        "-H",
        "X-Other: c",
        "-H",
        "Cookie: a=1",
        "-H",
        "cookie: b=2",
    )
    assert code == 0, err
    assert server.requests[0].header("x-tag") == "a, b"
    assert server.requests[0].header("x-other") == "c"
    assert server.requests[0].header("cookie") == "a=1; b=2"  # cookie pairs: semicolons


def test_subprocess_demo_whose_reader_goes_away_exits_zero_quietly() -> None:
    # `python -m sseclient_sync demo | head -1`.
    with _spawn("demo") as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            assert process.stdout.readline().startswith("demo: ")
            process.stdout.close()
            assert process.wait(timeout=15) == 0
            assert process.stderr.read() == ""
        finally:
            process.kill()


def test_subprocess_demo_ctrl_c_exits_130_without_a_traceback() -> None:
    with _spawn("demo") as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            assert process.stdout.readline().startswith("demo: ")
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 130
            assert "Traceback" not in process.stderr.read()
        finally:
            process.kill()
