#!/usr/bin/env bash
# LaunchDarkly's SSE contract suite against the library, through tests/contract/service.py.
# Run it inside an activated environment where the package is installed: it uses that `python`.
# Extra arguments go to the harness (e.g. --debug, --run REGEX). Exits with the harness's code.
set -euo pipefail
cd "$(dirname "$0")/.."

harness=../shared/tools/sse-contract-tests
if [ ! -x "$harness" ]; then
  echo "contract.sh: $harness not found or not executable" >&2
  exit 2
fi

workdir="$(mktemp -d)"
service_pid=""
harness_pid=""

stop_service() {
  if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
    kill -TERM "$service_pid" 2>/dev/null || true
    for _ in $(seq 50); do  # up to 5 s for it to close its connections
      kill -0 "$service_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$service_pid" 2>/dev/null; then
      echo "contract.sh: the service ignored SIGTERM; killing it" >&2
      kill -KILL "$service_pid" 2>/dev/null || true
    fi
    wait "$service_pid" 2>/dev/null || true
  fi
  service_pid=""
}
cleanup() {
  if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
    kill -TERM "$harness_pid" 2>/dev/null || true
    wait "$harness_pid" 2>/dev/null || true
  fi
  stop_service
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {  # a free loopback port for the harness's callback listener
  python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

python tests/contract/service.py --port 0 --port-file "$workdir/port" \
  >"$workdir/service.log" 2>&1 &
service_pid=$!

# Wait (up to 10 s) for the service to bind and answer GET /.
answers() {  # $1: port
  python -c '
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
opener.open(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1).read()
' "$1" 2>/dev/null
}
port=""
ready=""
for _ in $(seq 100); do
  if ! kill -0 "$service_pid" 2>/dev/null; then
    break
  fi
  if [ -z "$port" ] && [ -s "$workdir/port" ]; then
    port="$(cat "$workdir/port")"
  fi
  if [ -n "$port" ] && answers "$port"; then
    ready=yes
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "contract.sh: the test service did not answer GET / within 10 s; its log:" >&2
  cat "$workdir/service.log" >&2
  exit 2
fi

callback_port="$(free_port)"
status=0
# In the background, so that a signal to this script is handled at once (and stops both).
"$harness" --url "http://127.0.0.1:$port" --host 127.0.0.1 --port "$callback_port" "$@" \
  >"$workdir/harness.log" 2>&1 &
harness_pid=$!
wait "$harness_pid" || status=$?
harness_pid=""
stop_service

if [ "$status" -ne 0 ]; then  # every test with what it expected and got, then the service's log
  cat "$workdir/harness.log"
  echo
  echo "contract.sh: the harness exited with $status; the service's log ends:"
  tail -n 40 "$workdir/service.log"
  echo
fi
# The harness's closing block ("All tests passed" or the failed tests), then the counts.
sed -n '/^All tests passed$/,$p; /^FAILED TESTS (/,$p' "$workdir/harness.log"
python tests/contract/summary.py "$workdir/harness.log"
exit "$status"
