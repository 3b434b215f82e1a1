// The interop routes with better-sse on express: createSession, session.push per event, its
// keepAlive option for the keep-alive comments, as better-sse documents.
// `node better_sse.mjs PORT_FILE` listens on 127.0.0.1, port 0, and writes the port there.
import express from "express";
import { createEventBuffer, createSession } from "better-sse";
import * as plans from "./plans.mjs";

const app = express();
app.use(express.text({ type: "*/*" }));

app.use((req, res, next) => {
  const body = typeof req.body === "string" ? req.body : "";
  plans.record(req.query.key, req.method, req.path, req.headers, body);
  next();
});

app.get("/health", (req, res) => res.type("text/plain").send("ok"));

app.get("/status", async (req, res) => {
  const query = new URLSearchParams(req.query);
  const code = plans.number(query, "code", 500);
  const hold = plans.number(query, "hold", 0);
  if (!hold) {
    res.status(code).json(JSON.parse(plans.errorBody(code)));
    return;
  }
  res.status(code).type("application/json").set(plans.HELD_HEADERS);
  res.write(plans.errorBody(code));
  await plans.sleep(hold);
  res.end();
});

async function stream(req, res) {
  const query = new URLSearchParams(req.query);
  const plan = plans.planFor(req.method, req.path, query, req.get("last-event-id"));
  const every = req.path === "/keepalive" ? plans.number(query, "every", 0.6) : null;
  const session = await createSession(req, res, {
    // Data goes out as written, not JSON-encoded again.
    serializer: (data) => String(data),
    retry: null,
    keepAlive: every === null ? null : every * 1000,
    headers: plans.SSE_HEADERS,
  });
  for (const step of plan) {
    if (!session.isConnected) return;
    if (typeof step === "number") await plans.sleep(step);
    else if (step === plans.KILL) res.socket?.destroy();
    else if (step.ev !== undefined) session.push(step.ev.data, "message", step.ev.id);
    else if (step.partial !== undefined) {
      const [idLine, dataLine] = step.partial.split("\n");
      const buffer = createEventBuffer({ serializer: (data) => String(data) });
      buffer.id(idLine.slice("id: ".length)).data(dataLine.slice("data: ".length));
      await session.batch(buffer);
    } else if (every === null) {
      const buffer = createEventBuffer();
      buffer.comment(step.comment).dispatch();
      await session.batch(buffer);
    }
  }
  res.end();
}

const run = (req, res) => stream(req, res).catch((error) => {
  console.error(error);
  res.destroy();
});
app.get(["/clock", "/keepalive", "/silent", "/abort"], run);
app.post("/chat", run);

const server = app.listen(0, "127.0.0.1", () => plans.writePortFile(process.argv[2], server.address().port));
