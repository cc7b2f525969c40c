"use strict";
/**
 * A Node.js worker of the local platform: runs one JavaScript function's handler for
 * requests arriving on the socket the platform passes as `--fd N`.
 *
 * The same frames and the same steps as the Python worker (worker.py, protocol.py): a
 * frame is two big-endian uint32 (meta length, body length), a JSON meta object, then
 * the raw body. The worker loads `<code>/<module>.js`, awaits the optional
 * `start(config)` and `ready()`, announces `{"type": "ready", "pid"}` (or
 * `{"type": "failed", "error"}`), then answers each request frame
 * `{id, deadline, ct, headers}` with `{id, status, headers, error, exec_s[, cpu_s]}` and
 * the response body (cpu_s: the process's CPU seconds, sent when no other call overlapped).
 * Handlers are awaited concurrently; the platform never sends more than the function's
 * concurrency at once, and it kills the process at the timeout. When
 * the platform closes the socket, calls in flight finish, `stop()` runs, and it exits.
 */

const net = require("net");
const path = require("path");
const { Response } = require("tessera");

const MAX_META = 1 << 20;
const MAX_BODY = 64 << 20;
const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json";

function parseArgs(argv) {
  const out = { concurrency: "1", version: "0", config: "{}", preload: "" };
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
      throw new Error(`bad argument ${argv[i]}`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ["fd", "code", "handler", "function"]) {
    if (out[key] === undefined) throw new Error(`--${key} is required`);
  }
  return out;
}

function frame(meta, body = Buffer.alloc(0)) {
  const m = Buffer.from(JSON.stringify(meta), "utf8");
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(m.length, 0);
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, m, body], 8 + m.length + body.length);
}

/** Incremental parser: push chunks, get (meta, body) callbacks; copies each frame once. */
class FrameReader {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.chunks = [];
    this.size = 0;
    this.metaLen = -1;
    this.need = 8;
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size >= this.need) {
      const data = this.take(this.need);
      if (this.metaLen < 0) {
        const ml = data.readUInt32BE(0);
        const bl = data.readUInt32BE(4);
        if (ml > MAX_META || bl > MAX_BODY) {
          throw new Error(`frame too large: meta ${ml} B, body ${bl} B`);
        }
        this.metaLen = ml;
        this.need = ml + bl;
        if (this.need > 0) continue;
      }
      const meta = JSON.parse(data.subarray(0, this.metaLen).toString("utf8"));
      const body = data.subarray(this.metaLen);
      this.metaLen = -1;
      this.need = 8;
      this.onFrame(meta, body);
    }
  }

  take(n) {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.size -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - got);
      c.copy(out, got, 0, k);
      got += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.size -= n;
    return out;
  }
}

/** The handler's `event`: parsed JSON when the body is JSON, else the raw bytes (as Python). */
function decodeEvent(body, contentType) {
  if (body.length === 0) return null;
  const ct = (contentType || "").split(";", 1)[0].trim().toLowerCase();
  const first = body[0];
  if (ct === JSON_TYPE || ct.endsWith("+json") || (!ct && (first === 0x7b || first === 0x5b))) {
    try {
      return JSON.parse(body.toString("utf8"));
    } catch {
      return body;
    }
  }
  return body;
}

function hasHeader(headers, name) {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

/** A handler's return value -> [status, headers, body Buffer] (as Python's encode_result). */
function encodeResult(value) {
  let status = 200;
  let headers = {};
  if (value instanceof Response) {
    status = value.status;
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new RangeError(`HTTP status ${status} is not an integer in 100..599`);
    }
    for (const [k, v] of Object.entries(value.headers || {})) headers[k] = String(v);
    value = value.body;
  }
  const setDefault = (ct) => {
    if (!hasHeader(headers, "content-type")) headers["content-type"] = ct;
  };
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof ArrayBuffer) {
    setDefault("application/octet-stream");
    const buf = value instanceof ArrayBuffer ? Buffer.from(value) : value;
    return [status, headers, Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)];
  }
  if (typeof value === "string") {
    setDefault(TEXT);
    return [status, headers, Buffer.from(value, "utf8")];
  }
  if (value === null || value === undefined) {
    return [status === 200 ? 204 : status, headers, Buffer.alloc(0)];
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`a ${typeof value} is not JSON serializable`);
  setDefault(JSON_TYPE);
  return [status, headers, Buffer.from(text, "utf8")];
}

function describeError(err) {
  if (err instanceof Error) return `${err.name || "Error"}: ${err.message}`;
  return `Error: ${String(err)}`;
}

function makeLogger(functionName) {
  const line = (level) => (...parts) => {
    const text = parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ");
    process.stderr.write(`${new Date().toISOString()} ${level} [${process.pid}] ${text}\n`);
  };
  return {
    debug: line("DEBUG"),
    info: line("INFO"),
    warn: line("WARNING"),
    error: line("ERROR"),
    function: functionName,
  };
}

function loadHandler(codeDir, handler) {
  const dot = handler.lastIndexOf(".");
  const moduleName = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  const file = path.resolve(codeDir, ...moduleName.split(".")) + ".js";
  let mod;
  try {
    mod = require(file);
  } catch (err) {
    throw new Error(`importing '${moduleName}' failed: ${describeError(err)}`);
  }
  const handle = mod[exportName];
  if (typeof handle !== "function") {
    throw new Error(`${moduleName}.${exportName} is missing or not callable`);
  }
  const hook = (name) => (typeof mod[name] === "function" ? mod[name] : null);
  return { handle, start: hook("start"), stop: hook("stop"), ready: hook("ready") };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const sock = new net.Socket({ fd: Number(args.fd), readable: true, writable: true });
  const functionName = args.function;
  const version = Number(args.version);
  const logger = makeLogger(functionName);
  const fail = (error) => sock.end(frame({ type: "failed", error }), () => process.exit(0));

  const major = Number(process.versions.node.split(".")[0]);
  if (major < 20) return fail(`runtime nodejs20 needs Node.js >= 20, found ${process.version}`);
  let h;
  try {
    h = loadHandler(args.code, args.handler);
  } catch (err) {
    return fail(err.message);
  }
  try {
    if (h.start) await h.start(JSON.parse(args.config));
    if (h.ready && (await h.ready()) === false) throw new Error("ready() returned false");
  } catch (err) {
    return fail(describeError(err));
  }

  const inFlight = new Set();
  let started = 0; // requests ever started: another one during mine shares the CPU clock
  async function runOne(meta, body) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    const mine = ++started;
    const alone = inFlight.size === 0;
    const deadlineMs = Number(meta.deadline || 0) * 1000;
    const context = Object.freeze({
      function: functionName,
      invocationId: String(meta.id ?? ""),
      version,
      headers: Object.freeze({ ...(meta.headers || {}) }),
      contentType: meta.ct ?? null,
      deadlineMs,
      remainingMs: () => deadlineMs - Date.now(),
      logger,
    });
    let status, headers, out;
    let error = "";
    try {
      [status, headers, out] = encodeResult(await h.handle(decodeEvent(body, meta.ct), context));
    } catch (err) {
      error = describeError(err);
      logger.error(`invocation ${context.invocationId} failed:\n${err?.stack ?? error}`);
      [status, headers, out] = [500, { "content-type": TEXT }, Buffer.from(error, "utf8")];
    }
    const execS = Number(process.hrtime.bigint() - t0) / 1e9;
    const reply = { id: meta.id, status, headers, error, exec_s: execS };
    if (alone && started === mine) {
      const c = process.cpuUsage(c0); // microseconds of this process, user + system
      reply.cpu_s = (c.user + c.system) / 1e6;
    }
    if (!sock.destroyed) {
      sock.write(frame(reply, out));
    }
  }

  let closing = false;
  async function shutdown() {
    if (closing) return;
    closing = true;
    await Promise.allSettled([...inFlight]);
    try {
      if (h.stop) await h.stop();
    } catch (err) {
      logger.error(`stop() failed: ${err?.stack ?? describeError(err)}`);
    }
    process.exit(0);
  }

  const reader = new FrameReader((meta, body) => {
    const p = runOne(meta, body).finally(() => inFlight.delete(p));
    inFlight.add(p);
  });
  sock.on("data", (chunk) => {
    try {
      reader.push(chunk);
    } catch (err) {
      logger.error(`protocol error: ${describeError(err)}`);
      sock.destroy();
    }
  });
  sock.on("end", shutdown);
  sock.on("close", shutdown);
  sock.on("error", () => sock.destroy());
  sock.write(frame({ type: "ready", pid: process.pid }));
}

main().catch((err) => {
  process.stderr.write(`tessera node worker: ${err?.stack ?? err}\n`);
  process.exit(1);
});
