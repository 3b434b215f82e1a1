// The interop routes on Node's own `http` module: writeHead, then res.write per event (Node
// sends the head with the first write, chunked, keep-alive).
// `node plain_http.mjs PORT_FILE` listens on 127.0.0.1, port 0, and writes the port there.
import { createServer } from "node:http";
import * as plans from "./plans.mjs";

async function run(res, plan) {
  for (const step of plan) {
    if (res.destroyed) return;
    if (typeof step === "number") await plans.sleep(step);
    else if (step === plans.KILL) res.socket?.destroy();
    else res.write(plans.encode(step));
  }
  res.end();
}

async function handle(req, res) {
  const url = new URL(req.url, "http://127.0.0.1");
  const body = await plans.readBody(req);
  plans.record(url.searchParams.get("key"), req.method, url.pathname, req.headers, body);
  if (url.pathname === "/health") {
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
    return;
  }
  if (url.pathname === "/status") {
    const code = plans.number(url.searchParams, "code", 500);
    const hold = plans.number(url.searchParams, "hold", 0);
    const text = plans.errorBody(code);
    if (!hold) {
      res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(code, { "Content-Type": "application/json", ...plans.HELD_HEADERS });
    res.write(text);
    await plans.sleep(hold);
    res.end();
    return;
  }
  const plan = plans.planFor(req.method, url.pathname, url.searchParams, req.headers["last-event-id"]);
  if (plan === null) {
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
    return;
  }
  res.writeHead(200, { "Content-Type": "text/event-stream", ...plans.SSE_HEADERS });
  await run(res, plan);
}

const server = createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(error);
    res.destroy();
  });
});
server.listen(0, "127.0.0.1", () => plans.writePortFile(process.argv[2], server.address().port));
