"""The command line: print a stream's events as they arrive, or run the offline demo.

    python -m sseclient_sync URL [-X METHOD] [-H 'Name: value'] [--json BODY] ...
    python -m sseclient_sync demo
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Callable, Optional, Sequence, TextIO

from . import _manager
from ._connection import Connection
from ._exceptions import SSEError
from ._models import Event, Status
from ._version import __version__

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
_NO_JSON: Any = object()  # --json not given (--json null is None)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["demo"]:
        from ._demo import run_demo  # noqa: PLC0415 - loads the test server only for the demo

        try:
            return run_demo(sys.stdout)
        except KeyboardInterrupt:  # the demo's with-blocks closed the connection and server
            return EXIT_INTERRUPTED
    args = _parser().parse_args(args_list)
    return _stream(args, sys.stdout, sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sseclient-sync",
        description="Print the events of a Server-Sent Events stream as they arrive. "
        "'sseclient-sync demo' runs an offline demo of a dropped and resumed stream.",
    )
    parser.add_argument("url", help="the stream's URL (http:// or https://)")
    parser.add_argument("-X", "--method", default="GET", help="HTTP method (default: GET)")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="'NAME: VALUE'",
        help="a request header; repeat for more",
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument(
        "--json", type=_json_body, default=_NO_JSON, metavar="BODY", help="a JSON request body"
    )
    body.add_argument("--data", metavar="BODY", help="a raw request body")
    parser.add_argument("--last-event-id", metavar="ID", help="resume after this event id")
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: the data (named events as 'type: data'); json: one object per line",
    )
    parser.add_argument(
        "--max-events", type=_positive_int, metavar="N", help="exit 0 after N events"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=15.0,
        help="seconds to establish the connection (TCP, TLS, proxy)",
    )
    parser.add_argument(
        "--read-timeout",
        type=_read_timeout,
        default=60.0,
        help="longest silence, in seconds, from the moment the request is sent (the wait "
        "for the response headers included) and on the open stream (0 or none: no limit)",
    )
    parser.add_argument(
        "--retries", type=_non_negative_int, default=3, help="reconnect attempts (0: none)"
    )
    parser.add_argument(
        "--done-data",
        metavar="TEXT",
        help="end (exit 0) at the event whose data is TEXT, e.g. '[DONE]'",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print connection status changes on stderr"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _stream(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    write_event = _json_line if args.format == "json" else _text_line
    headers = _combined(args.header)
    options: dict[str, Any] = {
        "method": args.method.upper(),
        "headers": headers or None,
        "data": args.data,
        "last_event_id": args.last_event_id,
        "timeout": args.timeout,
        "read_timeout": args.read_timeout,
        "retry": args.retries,
    }
    if args.json is None:  # --json null: json=None would send no body at all
        options["data"] = "null"
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        options["headers"] = headers
    elif args.json is not _NO_JSON:
        options["json"] = args.json
    if args.done_data is not None:
        options["done"] = _data_equals(args.done_data)
    if args.verbose:
        options["on_status"] = _status_printer(err)
    connection: Optional[Connection] = None
    try:
        connection = _manager.create_sse_connection(args.url, **options)
        for received, event in enumerate(connection, start=1):
            out.write(write_event(event) + "\n")
            out.flush()
            if args.max_events is not None and received >= args.max_events:
                break
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): it stopped reading, as --max-events
        quiet(out)
        return EXIT_OK
    except (SSEError, ValueError, TypeError) as error:
        err.write(f"sseclient-sync: error: {_one_line(error)}\n")
        return EXIT_FAILED
    finally:
        if connection is not None:
            connection.close()


def _combined(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Repeated -H of one name (in any case) make one header, as HTTP reads repeated header
    lines: the values joined by commas, a Cookie's pairs by semicolons."""
    combined: dict[str, str] = {}
    for name, value in headers:
        key = next((known for known in combined if known.lower() == name.lower()), name)
        separator = "; " if key.lower() == "cookie" else ", "
        combined[key] = f"{combined[key]}{separator}{value}" if key in combined else value
    return combined


def quiet(out: TextIO) -> None:
    """Point the process's stdout at /dev/null if ``out`` is it: the flush at exit would
    otherwise meet the closed pipe again and print a traceback."""
    try:
        if out.fileno() == sys.stdout.fileno():
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    except (OSError, ValueError, AttributeError):  # no file descriptor: nothing to flush later
        pass


def _text_line(event: Event) -> str:
    return event.data if event.event == "message" else f"{event.event}: {event.data}"


def _json_line(event: Event) -> str:
    return json.dumps(
        {"event": event.event, "data": event.data, "id": event.id, "retry": event.retry},
        ensure_ascii=False,
    )


def _data_equals(text: str) -> Callable[[Event], bool]:
    marker = text.strip()
    return lambda event: event.data.strip() == marker


def _status_printer(err: TextIO) -> Callable[[Connection, Status, Status], None]:
    def print_status(connection: Connection, old: Status, new: Status) -> None:
        extra = f" (Last-Event-ID {connection.last_event_id})" if connection.last_event_id else ""
        err.write(f"[{new.value}] {connection.url}{extra}\n")
        err.flush()

    return print_status


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _json_body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--json needs valid JSON: {error}") from error


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds above 0: {text!r}")
    return value


def _read_timeout(text: str) -> Optional[float]:
    if text.strip().lower() == "none" or _number(text) == 0:
        return None
    return _positive_float(text)
