"""The manager under load, with real sockets and bounded in time.

Many threads create and close connections through the module-level functions while others
read and clear the registry; then hundreds of live connections receive a trickle of events
each. Every thread is joined with a timeout, every exception in any thread is collected, and
the registry must end exact (empty).
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Callable, Optional

import pytest
from support import empty_default_registry, wait_until

import sseclient_sync as sse
from sseclient_sync import Connection, ConnectionManager, Event, Status
from sseclient_sync._manager import default_manager
from sseclient_sync.testing import BodyItem, Pause, Reply, Silence, SSEServer
from sseclient_sync.testing import sse as wire

#: The bound on joining any thread of these tests: past it, the test reports a deadlock.
JOIN = 20.0


class Workers:
    """Threads whose exceptions are collected, joined with a bound."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[tuple[str, BaseException]] = []
        self._lock = threading.Lock()

    def start(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as error:  # collected and reported by join_all
                with self._lock:
                    self.errors.append((name, error))

        thread = threading.Thread(target=run, name=f"test-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, threads: list[threading.Thread], deadline: float) -> None:
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        assert not stuck, f"threads still running after {JOIN}s (deadlock?): {stuck}"


default_registry = pytest.fixture(empty_default_registry, name="default_registry")


def test_concurrent_create_close_and_queries_through_the_default_manager(
    server: SSEServer, default_registry: None
) -> None:
    server.route("/stream", Reply(body=[wire(Event(data="hi", id="1")), Silence()]))
    url = server.url_for("/stream")
    creators, per_creator = 8, 25  # 200 connections in all
    created: list[Connection] = []
    created_lock = threading.Lock()
    workers = Workers()
    creating_done = threading.Event()
    queries = {"count": 0, "all": 0, "close_all": 0}

    def create_and_close(index: int) -> None:
        for n in range(per_creator):
            conn = sse.create_sse_connection(url, wait_open=(n % 2 == 0), retry=0)
            with created_lock:
                created.append(conn)
            # Any state is fine here (a close_all may have got to it first) but a failure.
            assert conn.status is not Status.FAILED, conn.error
            if n % 3 == 0:
                sse.is_sse_connection_open(conn)
            if n % 5 != 4:  # leave some for close_all (and the final sweep)
                sse.close_sse_connection(conn)
                assert conn.status is Status.CLOSED

    def keep_querying() -> None:
        for _ in range(100_000):  # bounded: stops long before, when creating is done
            if creating_done.is_set():
                return
            count = sse.get_sse_connection_count()
            assert 0 <= count <= creators * per_creator
            for conn in sse.get_all_sse_connections():
                assert not conn.status.is_final or conn.status is Status.CLOSED
                sse.is_sse_connection_open(conn)
            queries["count"] += 1
            queries["all"] += 1
            time.sleep(0.001)

    def keep_closing_all() -> None:
        for _ in range(100_000):
            if creating_done.is_set():
                return
            sse.close_all_sse_connections()
            queries["close_all"] += 1
            time.sleep(0.02)

    deadline = time.monotonic() + JOIN
    for index in range(creators):
        workers.start(f"creator-{index}", functools.partial(create_and_close, index))
    creator_threads = list(workers.threads)
    for index in range(2):
        workers.start(f"query-{index}", keep_querying)
    workers.start("close-all", keep_closing_all)
    try:
        workers.join(creator_threads, deadline)
    finally:
        creating_done.set()
    workers.join(workers.threads, deadline)
    assert workers.errors == []

    assert len(created) == creators * per_creator
    assert len({c.id for c in created}) == len(created)
    assert queries["close_all"] > 0 and queries["count"] > 0
    sse.close_all_sse_connections()
    wait_until(lambda: all(c.status.is_final for c in created), "every connection to end")
    assert {c.status for c in created} == {Status.CLOSED}
    assert sse.get_sse_connection_count() == 0
    assert sse.get_all_sse_connections() == []
    assert default_manager().count() == 0


def test_close_all_racing_creates_leaves_nothing_behind(server: SSEServer) -> None:
    """close_all() while creates are under way: every connection ends CLOSED, none is left
    registered, and a create that lost the race still returns (never hangs or raises)."""
    server.route("/stream", Reply(body=[Pause(0.01), Silence()]))
    workers = Workers()
    made: list[Connection] = []
    with ConnectionManager(base_url=server.url, retry=0) as manager:

        def create_many() -> None:
            for _ in range(15):
                made.append(manager.create("/stream"))

        def close_all_often() -> None:
            for _ in range(30):
                manager.close_all()
                time.sleep(0.005)

        deadline = time.monotonic() + JOIN
        for index in range(4):
            workers.start(f"create-{index}", create_many)
        workers.start("close-all", close_all_often)
        workers.join(workers.threads, deadline)
        assert workers.errors == []
        manager.close_all()
        assert manager.count() == 0
    assert len(made) == 60
    assert {c.status for c in made} == {Status.CLOSED}


def test_close_all_while_create_is_starting_the_reader(
    server: SSEServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins the interleaving the concurrent tests hit by chance: close_all() runs after
    create() registered the connection and made its reader thread, before the thread runs.
    (A fix may make close() wait for the start: the start goes on after a short while.)"""
    server.route("/stream", Reply(body=[Silence()]))
    closer_errors: list[BaseException] = []
    closers: list[threading.Thread] = []
    real_start = threading.Thread.start
    with ConnectionManager() as manager:

        def close_all() -> None:
            try:
                manager.close_all()
            except BaseException as error:  # reported by the assertion below
                closer_errors.append(error)

        def start(thread: threading.Thread) -> None:
            if thread.name.startswith("sseclient-sync-") and not closers:
                closer = threading.Thread(target=close_all, name="test-closer", daemon=True)
                closers.append(closer)
                real_start(closer)
                closer.join(0.5)
            real_start(thread)

        monkeypatch.setattr(threading.Thread, "start", start)
        conn = manager.create(server.url_for("/stream"), wait_open=False)
        monkeypatch.undo()
        closers[0].join(JOIN)
        assert not closers[0].is_alive(), "close_all() deadlocked"
        assert closer_errors == []
        assert conn.wait(2.0) is Status.CLOSED
        assert manager.count() == 0


def test_300_live_connections_each_receive_every_event(server: SSEServer) -> None:
    connections, events_each = 300, 5
    body: list[BodyItem] = []
    for n in range(1, events_each + 1):
        body += [wire(Event(data=f"event {n}", id=str(n))), Pause(0.02)]
    server.route("/stream", Reply(body=[*body, Silence()]))

    received = [0] * connections
    out_of_order: list[tuple[int, Optional[str]]] = []
    errors: list[BaseException] = []

    def counter(index: int) -> Callable[[Event], None]:
        def on_message(event: Event) -> None:
            received[index] += 1
            if event.id != str(received[index]):
                out_of_order.append((index, event.id))

        return on_message

    with ConnectionManager(base_url=server.url, retry=0) as manager:
        conns = [
            manager.create(
                "/stream", wait_open=False, on_message=counter(i), on_error=errors.append
            )
            for i in range(connections)
        ]
        assert manager.count() == connections
        everything = connections * events_each
        wait_until(
            lambda: sum(received) >= everything,
            lambda: (
                f"{everything} events, {sum(received)} arrived; "
                f"statuses: {sorted({c.status.value for c in conns})}"
            ),
            timeout=15.0,
        )
        assert received == [events_each] * connections
        assert out_of_order == []
        assert errors == []
        # All of them live at once.
        assert manager.count() == connections
        assert all(c.is_open() for c in conns)
        assert all(c.stats().messages_received == events_each for c in conns)

        manager.close_all()
        assert manager.count() == 0
        assert manager.all() == []
    assert {c.status for c in conns} == {Status.CLOSED}
    assert len(server.requests) == connections  # nobody reconnected
