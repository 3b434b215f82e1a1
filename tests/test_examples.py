"""The example programs in examples/, run against scripted loopback servers.

Each example is loaded from its file under a private module name (``example_<name>``), so that
a name like ``jupyter`` cannot collide with an installed package, and each test scripts the
server side of the recipe itself: the examples' own demo servers are checked separately.
"""

from __future__ import annotations

import _thread
import contextlib
import importlib.util
import re
import runpy
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest
from support import WAIT, wait_until

import sseclient_sync as sse
from sseclient_sync.testing import BodyItem, Drop, Pause, RecordedRequest, Reply, Silence, SSEServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    """The example ``examples/<name>.py``, imported once per test session."""
    module_name = f"example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # Django finds ROOT_URLCONF by this name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def encode(*events: sse.Event) -> bytes:
    return b"".join(event.encode() for event in events)


#: What the relays are checked with: ids, event types, multi-line and empty data, a retry
#: field, non-ASCII text.
RELAYED = [
    sse.Event(data="first", id="1"),
    sse.Event(event="update", data="line one\nline two\n\nline four", id="2"),
    sse.Event(data="", id="3"),
    sse.Event(event="update", data="ünïcode ✓", id="4", retry=1500),
    sse.Event(event="end", data="{}", id="5"),
]
#: An event without an id line of its own: it inherits the last event ID ("1").
INHERITING = b"data: no id line\n\n"
WITH_INHERITED_ID = [RELAYED[0], sse.Event(data="no id line", id="1")]


# --- chat_stream.py --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eol", "done_line"),
    [
        ("\r\n", "data:  [DONE]  "),
        ("\n", "data: [DONE]"),
        ("\r", "data:[DONE]\t"),
    ],
    ids=["crlf-padded", "lf", "cr-tab"],
)
def test_chat_stream_assembles_tokens_and_stops_at_done(
    server: SSEServer, capsys: pytest.CaptureFixture[str], eol: str, done_line: str
) -> None:
    tokens = ["Hel", "lo", " wor", "ld", "!"]
    lines = [f"data: {token}{eol}{eol}" for token in tokens]
    after_done = f"data: never delivered{eol}{eol}"
    body: list[BodyItem] = [lines[0], Pause(0.02), *lines[1:], done_line + eol + eol, after_done]
    server.route("/chat", Reply(body=body), methods=["POST"])

    text = load("chat_stream").main(server.url_for("/chat"), prompt="hi there")

    assert text == "Hello world!"
    assert capsys.readouterr().out == "Hello world!\n"
    requests = server.requests
    assert len(requests) == 1  # the POST was sent once, and not re-sent after [DONE]
    assert requests[0].method == "POST"
    assert requests[0].json()["messages"] == [{"role": "user", "content": "hi there"}]


def test_chat_stream_is_not_resent_after_a_drop_mid_answer(server: SSEServer) -> None:
    server.route("/chat", Reply(body=["data: Hel\n\n", Pause(0.02), Drop()]), methods=["POST"])

    with pytest.raises(sse.ConnectError, match="resume="):
        load("chat_stream").main(server.url_for("/chat"))
    assert len(server.requests) == 1  # re-sending would have repeated the answer


def test_chat_stream_runs_as_a_script_with_its_own_server() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "chat_stream.py")],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, world! How can I help?\n"


# --- json_done_marker.py ---------------------------------------------------------------------


def test_json_done_marker_collects_results_until_status_88(server: SSEServer) -> None:
    stream = [
        '{"n": 1}',
        "plain text, not JSON",
        "",
        "[1, 2]",
        '{"status": 87}',
        '{"n": 2}',
        '{"status": 88}',
        '{"n": "after the marker"}',
    ]
    body = encode(*(sse.Event(data=data) for data in stream))
    server.route("/results", Reply(body=[body, Silence()]))

    results = load("json_done_marker").main(server.url_for("/results"))

    assert results == [{"n": 1}, [1, 2], {"status": 87}, {"n": 2}]
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("data", "done"),
    [
        ('{"status": 88}', True),
        (' {"status": 88, "detail": "ok"} ', True),
        ('{"status": "88"}', False),
        ('{"status": 8}', False),
        ("88", False),
        ("status: 88", False),
        ("", False),
        ('[{"status": 88}]', False),
    ],
)
def test_json_done_marker_predicate(data: str, done: bool) -> None:
    assert load("json_done_marker").is_done(sse.Event(data=data)) is done


# --- resume_offset.py ------------------------------------------------------------------------

ANSWER = "Resuming works: no token lost, none doubled."
ANSWER_TOKENS = re.findall(r"\s*\S+", ANSWER)
#: "retry: 0" makes the reconnect immediate, so every cut point can be tried quickly.
RESUME_PREFIX = b"retry: 0\n\n"


def resumable_answer(offset: int) -> bytes:
    tokens = ANSWER_TOKENS[offset:]
    return RESUME_PREFIX + encode(*(sse.Event(data=t) for t in tokens), sse.Event(data="[DONE]"))


def test_resume_offset_continues_from_every_cut_point(server: SSEServer) -> None:
    full = resumable_answer(0)
    resume = load("resume_offset")
    for cut in range(len(RESUME_PREFIX), len(full) + 1):
        served: list[int] = []

        def answer(request: RecordedRequest, cut: int = cut, served: list[int] = served) -> Reply:
            offset = request.json()["offset"]
            served.append(offset)
            return Reply(body=[resumable_answer(offset)], drop_at=cut if len(served) == 1 else None)

        server.route("/answer", answer, methods=["POST"])
        assert resume.main(server.url_for("/answer")) == ANSWER, f"cut at byte {cut}"
        # Each complete event before the cut was delivered and counted; the cut one was not.
        complete_events = full[:cut].count(b"\n\n") - 1
        if complete_events > len(ANSWER_TOKENS):  # [DONE] arrived whole: nothing to resume
            assert served == [0], f"cut at byte {cut}"
        else:
            assert served == [0, complete_events], f"cut at byte {cut}"


def test_resume_offset_after_a_drop_item(server: SSEServer) -> None:
    half = len(ANSWER_TOKENS) // 2
    first = RESUME_PREFIX + encode(*(sse.Event(data=t) for t in ANSWER_TOKENS[:half]))
    server.route(
        "/answer",
        [Reply(body=[first, Pause(0.02), Drop()]), Reply(body=resumable_answer(half))],
        methods=["POST"],
    )

    assert load("resume_offset").main(server.url_for("/answer"), prompt="go") == ANSWER
    bodies = [request.json() for request in server.requests]
    assert bodies == [{"prompt": "go", "offset": 0}, {"prompt": "go", "offset": half}]


# --- task_monitor.py -------------------------------------------------------------------------


def progress(percent: int) -> sse.Event:
    return sse.Event(event="task_progress", data=f'{{"percent": {percent}}}')


def test_task_monitor_returns_progress_until_complete(server: SSEServer) -> None:
    body: list[BodyItem] = [
        encode(progress(0), sse.Event(data="an unnamed event, ignored"), progress(40)),
        Pause(0.02),
        encode(progress(100), sse.Event(event="task_complete", data='{"result": 1}')),
        Silence(),  # the handler ends it, not the server
    ]
    server.route("/task", Reply(body=body))

    assert load("task_monitor").main(server.url_for("/task"), timeout=WAIT) == [0, 40, 100]
    assert sse.get_sse_connection_count() == 0
    wait_until(lambda: server.open_connections == 0, "the client to hang up")


def test_task_monitor_subscribes_once_across_a_reconnect(server: SSEServer) -> None:
    dropped = [
        b"retry: 0\n\n",
        encode(sse.Event(event="task_progress", data='{"percent": 10}', id="1")),
    ]
    resumed = encode(progress(20), sse.Event(event="task_complete"))
    server.route("/task", [Reply(body=[*dropped, Drop()]), Reply(body=[resumed, Silence()])])

    # on_open ran twice; each handler still ran once per event.
    assert load("task_monitor").main(server.url_for("/task"), timeout=WAIT) == [10, 20]
    assert server.requests[1].headers["last-event-id"] == "1"


def test_task_monitor_sees_nothing_after_complete_in_the_same_chunk(server: SSEServer) -> None:
    body = encode(progress(50), sse.Event(event="task_complete"), progress(999))
    server.route("/task", Reply(body=[body, Silence()]))

    assert load("task_monitor").main(server.url_for("/task"), timeout=WAIT) == [50]


def test_task_monitor_raises_when_the_task_fails(server: SSEServer) -> None:
    body = encode(progress(10), sse.Event(event="task_failed", data="disk full"))
    server.route("/task", Reply(body=[body, Silence()]))
    task_monitor = load("task_monitor")

    with pytest.raises(task_monitor.TaskFailed, match="disk full"):
        task_monitor.main(server.url_for("/task"), timeout=WAIT)
    wait_until(lambda: server.open_connections == 0, "the client to hang up")


def test_task_monitor_times_out_on_a_silent_task(server: SSEServer) -> None:
    server.route("/task", Reply(body=[encode(progress(1)), Silence()]))

    with pytest.raises(TimeoutError, match="did not end"):
        load("task_monitor").main(server.url_for("/task"), timeout=0.2)
    assert sse.get_sse_connection_count() == 0  # the with block closed it


# --- flask_relay.py --------------------------------------------------------------------------


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app on loopback in a thread; yield its base URL; shut it down after."""
    from werkzeug.serving import make_server

    wsgi_server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=wsgi_server.serve_forever, name="werkzeug", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{wsgi_server.server_port}"
    finally:
        wsgi_server.shutdown()
        thread.join(WAIT)
        wsgi_server.server_close()


def test_flask_relay_forwards_every_event_end_to_end(server: SSEServer) -> None:
    server.route("/upstream", Reply(body=[encode(*RELAYED[:2]), Pause(0.02), encode(*RELAYED[2:])]))
    app = load("flask_relay").create_app(server.url_for("/upstream"))

    with serve_wsgi(app) as base:
        relay = base + "/events"
        with sse.create_sse_connection(relay, last_event_id="0", retry=False) as conn:
            received = list(conn.events(timeout=WAIT))

    assert received == RELAYED
    upstream_request = server.requests[0]
    assert upstream_request.headers["last-event-id"] == "0"  # the client's resume point
    wait_until(lambda: sse.get_sse_connection_count() == 0, "the relay to close upstream")


def test_flask_relay_closes_upstream_when_the_client_goes_away(server: SSEServer) -> None:
    server.route("/upstream", Reply(body=[encode(*RELAYED[:2]), Silence()]))
    app = load("flask_relay").create_app(server.url_for("/upstream"), heartbeat=0.05)

    with serve_wsgi(app) as base:
        with sse.create_sse_connection(base + "/events", retry=False) as conn:
            events = conn.events(timeout=WAIT)
            assert [next(events), next(events)] == RELAYED[:2]
            assert server.open_connections == 1
        # The relay's next keep-alive write fails, Werkzeug closes the generator, and its
        # finally closes the upstream connection.
        wait_until(lambda: server.open_connections == 0, "the relay to close upstream")


def test_flask_relay_keeps_an_event_that_inherits_its_id(server: SSEServer) -> None:
    server.route("/upstream", Reply(body=[encode(RELAYED[0]), INHERITING]))
    app = load("flask_relay").create_app(server.url_for("/upstream"))

    with serve_wsgi(app) as base, sse.create_sse_connection(base + "/events", retry=False) as conn:
        assert list(conn.events(timeout=WAIT)) == WITH_INHERITED_ID


def test_flask_relay_serves_clients_one_after_another(server: SSEServer) -> None:
    # Each relay request opens upstream through the same pooled session: a connection that a
    # finished stream gave back to the pool must still be usable by the next one.
    server.route("/upstream", Reply(body=encode(*RELAYED)))
    app = load("flask_relay").create_app(server.url_for("/upstream"))

    with serve_wsgi(app) as base:
        for _ in range(2):
            with sse.create_sse_connection(base + "/events", retry=False) as conn:
                assert list(conn.events(timeout=WAIT)) == RELAYED


# --- django_relay.py -------------------------------------------------------------------------


@contextlib.contextmanager
def django_settings(upstream: str) -> Iterator[ModuleType]:
    """The Django example, with settings pointing at ``upstream`` (also correct if some other
    test configured Django first)."""
    from django.test import override_settings

    module = load("django_relay")
    with override_settings(
        ROOT_URLCONF=module.__name__,
        ALLOWED_HOSTS=["testserver"],
        SSE_UPSTREAM_URL=upstream,
        SSE_HEARTBEAT=0.05,
    ):
        yield module


def test_django_relay_forwards_every_event(server: SSEServer) -> None:
    from django.test import Client

    server.route("/upstream", Reply(body=[encode(*RELAYED[:2]), Pause(0.02), encode(*RELAYED[2:])]))
    with django_settings(server.url_for("/upstream")):
        response = Client().get("/events", headers={"Last-Event-ID": "7"})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        assert response["Cache-Control"] == "no-cache"
        assert response.streaming
        body = b"".join(response.streaming_content)
        response.close()

    assert sse.SSEParser().feed(body) == RELAYED
    assert server.requests[0].headers["last-event-id"] == "7"
    wait_until(lambda: sse.get_sse_connection_count() == 0, "the relay to close upstream")


def test_django_relay_closes_upstream_when_the_response_is_closed(server: SSEServer) -> None:
    from django.test import Client

    server.route("/upstream", Reply(body=[encode(RELAYED[0]), Silence()]))
    with django_settings(server.url_for("/upstream")):
        response = Client().get("/events")
        chunks = iter(response.streaming_content)
        assert next(chunks) == RELAYED[0].encode()
        assert next(chunks) == b": keep-alive\n\n"  # upstream is silent
        assert server.open_connections == 1
        response.close()  # what the WSGI server does when the client goes away

    wait_until(lambda: server.open_connections == 0, "the relay to close upstream")
    assert sse.get_sse_connection_count() == 0


def test_django_relay_writes_an_inherited_id_out(server: SSEServer) -> None:
    from django.test import Client

    server.route("/upstream", Reply(body=[encode(RELAYED[0]), INHERITING]))
    with django_settings(server.url_for("/upstream")):
        response = Client().get("/events")
        body = b"".join(response.streaming_content)
        response.close()

    # The same events for any reader that, like EventSource, does not drop repeated ids.
    assert sse.SSEParser().feed(body) == WITH_INHERITED_ID


def test_django_relay_can_be_imported_twice() -> None:
    from django.conf import settings

    first = load("django_relay")
    urlconf = settings.ROOT_URLCONF
    again = runpy.run_path(str(EXAMPLES / "django_relay.py"), run_name="example_django_relay_2")

    assert urlconf == settings.ROOT_URLCONF  # the second import left the settings alone
    assert callable(again["events"]) and first.urlpatterns


# --- jupyter.py ------------------------------------------------------------------------------


def interrupt_the_notebook_loop(server: SSEServer, interrupt: Callable[[], None]) -> bool:
    """Run jupyter.main on a stream that falls silent after two events; once its loop waits
    for a third, call ``interrupt()`` from a timer thread. Expect KeyboardInterrupt out of
    main, and check that the connection was closed and the server saw the client go.

    Returns whether the interrupt got through within INTERRUPT_GRACE s. If it did not, the
    timer thread closes the connection, which wakes the loop so that the pending interrupt
    comes out after all (rather than leaving the test hanging).
    """
    server.route("/ticker", Reply(body=[encode(*RELAYED[:2]), Silence()]))
    opened: list[sse.Connection] = []
    is_open = threading.Event()
    fired = threading.Event()
    got_through = threading.Event()

    def on_open(conn: sse.Connection) -> None:
        opened.append(conn)
        is_open.set()

    def interrupt_while_blocked() -> None:
        # Fire only while the main thread is surely inside main(): the stream is open and
        # silent after two events, so its loop can only be waiting for a third.
        if not is_open.wait(WAIT):
            return
        conn = opened[0]
        deadline = time.monotonic() + WAIT
        while conn.stats().messages_received < 2 and not conn.status.is_final:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)
        time.sleep(0.1)  # let the loop print both events and block on the next one
        if conn.status is not sse.Status.OPEN:
            return
        fired.set()
        interrupt()
        if conn.wait(INTERRUPT_GRACE) is sse.Status.CLOSED:  # the with block closed it
            got_through.set()
        else:
            conn.close()

    timer = threading.Timer(0.0, interrupt_while_blocked)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            load("jupyter").main(server.url_for("/ticker"), on_open=on_open)
    finally:
        timer.join(WAIT)

    assert fired.is_set()
    conn = opened[0]
    assert conn.status is sse.Status.CLOSED
    assert conn not in sse.get_all_sse_connections()
    wait_until(lambda: server.open_connections == 0, "the server to see the client go")
    return got_through.is_set()


#: How long an interrupt may take to reach a loop waiting for the next event.
INTERRUPT_GRACE = 1.0


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs signal.pthread_kill")
def test_jupyter_ctrl_c_closes_the_connection(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not handled by Python's default handler here")
    main_thread = threading.main_thread().ident
    assert main_thread is not None

    # A real SIGINT to the main thread, as a terminal's Ctrl-C or Jupyter's interrupt sends.
    assert interrupt_the_notebook_loop(
        server, lambda: signal.pthread_kill(main_thread, signal.SIGINT)
    )
    assert capsys.readouterr().out == "message: first\nupdate: line one\nline two\n\nline four\n"


def test_jupyter_interrupt_main_closes_the_connection(server: SSEServer) -> None:
    assert interrupt_the_notebook_loop(server, _thread.interrupt_main)


def test_jupyter_loop_ends_with_the_stream(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.route("/ticker", Reply(body=encode(RELAYED[0])))

    load("jupyter").main(server.url_for("/ticker"), retry=False)

    assert capsys.readouterr().out == "message: first\nthe stream ended: completed\n"


# --- callbacks_and_manager.py ----------------------------------------------------------------


def test_callbacks_and_manager(server: SSEServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.route("/news", Reply(body=[encode(sse.Event(data="n1", id="n1")), Silence()]))
    first = Reply(body=[b"retry: 0\n\n", encode(sse.Event(data="p1", id="p1")), Drop()])
    second = Reply(body=[encode(sse.Event(data="p1", id="p1"), sse.Event(data="p2")), Silence()])
    server.route("/prices", [first, second])

    result = load("callbacks_and_manager").main(server.url, expected=3, timeout=WAIT)

    assert sorted(result["messages"]) == ["n1", "p1", "p2"]  # the replayed p1 is not repeated
    assert [type(error) for error in result["errors"]] == [sse.ConnectError]
    assert result["open"] == [True, True]
    assert result["count_after"] == 0
    prices = [r for r in server.requests if r.path == "/prices"]
    assert [r.header("last-event-id") for r in prices] == [None, "p1"]
    out = capsys.readouterr().out
    assert "2 connections open" in out
    assert out.count("open: ") == 3  # news, prices, prices again
    assert f"closed: {server.url}/news (closed)" in out
    assert f"closed: {server.url}/prices (closed)" in out


# --- every example's own demo ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("chat_stream", "Hello, world! How can I help?"),
        ("json_done_marker", [{"n": 1}, {"n": 2}, {"n": 3}]),
        ("resume_offset", "Once upon a time, a stream broke."),
        ("task_monitor", [0, 25, 50, 75, 100]),
    ],
)
def test_demo_servers(name: str, expected: object, capsys: pytest.CaptureFixture[str]) -> None:
    module = load(name)
    with SSEServer() as demo:
        assert module.main(module.serve_demo(demo)) == expected
    assert capsys.readouterr().out


def test_callbacks_demo_server() -> None:
    module = load("callbacks_and_manager")
    with SSEServer() as demo:
        result = module.main(module.serve_demo(demo), expected=3, timeout=WAIT)
    assert sorted(result["messages"]) == ["n1 rain", "p1 1.08", "p2 1.09"]


# --- openai_chat.py and anthropic_messages.py -------------------------------------------------


def test_openai_chat_assembles_the_deltas_and_stops_at_done(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("openai_chat")
    body: list[BodyItem] = [example.chunk(t) for t in ["Hel", "lo", "!"]]
    body += ["data: [DONE]\n\n", example.chunk("never delivered")]
    server.route("/v1/chat/completions", Reply(body=body), methods=["POST"])
    answer = example.main(server.url_for("/v1/chat/completions"), prompt="hi")
    assert answer == example.Answer("Hello!", None)
    assert capsys.readouterr().out == "Hello!\n"
    (request,) = server.requests
    assert request.json()["messages"] == [{"role": "user", "content": "hi"}]


def test_openai_chat_reports_an_error_sent_inside_the_stream(server: SSEServer) -> None:
    example = load("openai_chat")
    error = b'data: {"error": {"message": "upstream overloaded", "type": "server_error"}}\n\n'
    body: list[BodyItem] = [example.chunk("Hel"), error, Silence()]
    server.route("/v1/chat/completions", Reply(body=body), methods=["POST"])
    answer = example.main(server.url_for("/v1/chat/completions"))
    assert answer == example.Answer("Hel", "upstream overloaded")
    assert len(server.requests) == 1  # an in-stream error is final: the POST is not re-run


def test_anthropic_messages_assembles_the_text_deltas_and_stops_at_message_stop(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("anthropic_messages")
    url = example.serve_demo(server)
    assert example.main(url) == example.Answer("Hello! How can I help?", None)
    assert capsys.readouterr().out == "Hello! How can I help?\n"
    assert server.requests[0].headers["anthropic-version"] == "2023-06-01"


def test_anthropic_messages_handles_an_overloaded_error_mid_stream(server: SSEServer) -> None:
    example = load("anthropic_messages")
    overloaded = example.named("error", error={"type": "overloaded_error", "message": "Overloaded"})
    body: list[BodyItem] = [
        example.named("message_start", message={"id": "msg_1"}),
        example.delta("Hel"),
        example.named("ping"),
        overloaded,
        Silence(),
    ]
    server.route("/v1/messages", Reply(body=body), methods=["POST"])
    assert example.main(server.url_for("/v1/messages")) == example.Answer("Hel", "overloaded_error")
    assert len(server.requests) == 1


@pytest.mark.parametrize("name", ["openai_chat", "anthropic_messages"])
def test_the_llm_recipes_run_as_scripts_with_their_own_server(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello! How can I help?\n"


# --- subscription.py --------------------------------------------------------------------------


def test_subscription_sends_the_body_again_with_a_fresh_url_and_token(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("subscription")
    url = example.serve_demo(server)
    assert example.main(url) == [f"price {n}" for n in range(100, 106)]
    out = capsys.readouterr().out
    assert out.count("(keep-alive ping)") == 2
    first, second = server.requests[:2]
    assert (first.method, first.body, first.query) == ("REPORT", example.QUERY, {})
    assert (second.method, second.body, second.query) == ("REPORT", example.QUERY, {"sig": ["1"]})
    assert second.header("Authorization") == "Bearer token-1"


def test_subscription_runs_as_a_script_with_its_own_server() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "subscription.py")],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "(keep-alive ping)", "price 100", "price 101", "price 102",
        "(keep-alive ping)", "price 103", "price 104", "price 105",
    ]
