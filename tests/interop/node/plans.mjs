// The interop routes for the Node apps: the same plans as ../apps/plans.py (see its docstring
// for the routes). A plan yields steps: {ev: {data, id}}, {comment}, {partial} (raw text of an
// event never finished), a number (sleep that many seconds), or KILL.
import { openSync, writeSync, closeSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { STATUS_CODES } from "node:http";

export const KILL = "KILL";
export const DONE = "[DONE]";
export const SSE_HEADERS = { "Cache-Control": "no-cache", "X-Accel-Buffering": "no" };
export const HELD_HEADERS = { "X-Accel-Buffering": "no" };
const ABORT_CUT = 4;
const ABORT_LAST = 6;

export function* clock(n = 3, gap = 0.4) {
  for (let i = 1; i <= n; i++) {
    if (i > 1) yield gap;
    // Date.now() at the moment of writing: the step is made only when the plan reaches it.
    yield { ev: { data: JSON.stringify({ i, t: Date.now() / 1000 }), id: String(i) } };
  }
  yield { ev: { data: DONE } };
}

export function* keepalive(every = 0.6, total = 1.3) {
  const start = Date.now() / 1000;
  const elapsed = () => Date.now() / 1000 - start;
  yield { comment: "keep-alive" };
  for (let left = total; left > 0; left = total - elapsed()) {
    yield Math.min(every, left);
    if (elapsed() < total) yield { comment: "keep-alive" };
  }
  yield { ev: { data: "alive" } };
  yield { ev: { data: DONE } };
}

export function* silent(lastEventId, hold = 3) {
  if (lastEventId) {
    yield { ev: { data: "second", id: "2" } };
    yield { ev: { data: DONE } };
    return;
  }
  yield { ev: { data: "first", id: "1" } };
  yield hold;
}

export function* abort(lastEventId) {
  const start = Number.parseInt(lastEventId || "0", 10) || 0;
  if (start < ABORT_CUT - 1) {
    for (let i = start + 1; i < ABORT_CUT; i++) {
      yield { ev: { data: `e${i}`, id: String(i) } };
      yield 0.02;
    }
    yield { partial: `id: ${ABORT_CUT}\ndata: e${ABORT_CUT}-cut` };
    yield 0.1;
    yield KILL;
    return;
  }
  for (let i = start + 1; i <= ABORT_LAST; i++) yield { ev: { data: `e${i}`, id: String(i) } };
  yield { ev: { data: DONE } };
}

export function* chat(first = 0.8, n = 5) {
  yield first;
  for (let i = 0; i < n; i++) {
    if (i) yield 0.02;
    yield { ev: { data: JSON.stringify({ token: `tok${i}` }) } };
  }
  yield { ev: { data: DONE } };
}

export function errorBody(code) {
  return JSON.stringify({ error: STATUS_CODES[code], status: code });
}

export function encode(step) {
  if (step.partial !== undefined) return step.partial;
  if (step.comment !== undefined) return `: ${step.comment}\n\n`;
  const head = step.ev.id !== undefined ? `id: ${step.ev.id}\n` : "";
  return `${head}data: ${step.ev.data}\n\n`;
}

export function number(query, name, fallback) {
  const value = query.get(name);
  return value === null || value === "" ? fallback : Number(value);
}

export const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// One request as one JSON line in $SSE_INTEROP_STATE/<key>.jsonl (one O_APPEND write).
export function record(key, method, path, headers, body) {
  if (!key) return;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(key)) throw new Error(`bad key ${key}`);
  const entry = {
    method,
    path,
    last_event_id: headers["last-event-id"] ?? null,
    accept_encoding: headers["accept-encoding"] ?? null,
    body,
    time: Date.now() / 1000,
  };
  const fd = openSync(join(process.env.SSE_INTEROP_STATE, `${key}.jsonl`), "a");
  try {
    writeSync(fd, `${JSON.stringify(entry)}\n`);
  } finally {
    closeSync(fd);
  }
}

export function writePortFile(path, port) {
  writeFileSync(`${path}.part`, String(port));
  renameSync(`${path}.part`, path);
}

// The plan for a request, or null when the path is not a stream route.
export function planFor(method, path, query, lastEventId) {
  if (path === "/clock") return clock(number(query, "n", 3), number(query, "gap", 0.4));
  if (path === "/keepalive") return keepalive(number(query, "every", 0.6), number(query, "total", 1.3));
  if (path === "/silent") return silent(lastEventId, number(query, "hold", 3));
  if (path === "/abort") return abort(lastEventId);
  if (path === "/chat" && method === "POST") return chat(number(query, "first", 0.8), number(query, "n", 5));
  return null;
}

export function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on("data", (part) => parts.push(part));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}
