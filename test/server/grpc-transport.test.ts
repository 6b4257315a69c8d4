// The gRPC port against hostile clients on a real port: slow large-prefix calls without a key, with a key (receive deadline, buffered-bytes bound), silent and idle connections (cap, preface and idle timeouts, the HTTP port under a low fd limit), echoed input and duplicated authorization.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { KeyRing } from '../../src/server/auth.js';
import { checkApiKey } from '../../src/server/grpc/auth.js';
import { grpcClients, grpcEndpoint, tritonService } from '../../src/server/grpc/server.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const modelPath = writeModel(t.testdir());
const KEY = 'transport-key-0123456789abcdef';
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const METADATA = '/inference.GRPCInferenceService/ModelMetadata';
const inferDef = grpcClients().inference.GRPCInferenceService.service['ModelInfer']!;
const metaDef = grpcClients().inference.GRPCInferenceService.service['ModelMetadata']!;

/** gRPC's length-prefixed message frame. */
const framed = (body: Buffer, size = body.length): Buffer => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(size, 1);
  return Buffer.concat([head, body]);
};

interface Slow {
  status?: string;
  message?: string;
  code?: string;
  closedMs?: number;
  sent: () => number;
}

/** A ModelInfer stream announcing `size` bytes and sending `chunk` bytes every 20 ms, never all of them. */
function slowCall(session: http2.ClientHttp2Session, size: number, key?: string, chunk = 64 * 1024): Slow {
  const t0 = Date.now();
  const req = session.request({
    ':method': 'POST',
    ':path': INFER,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(key ? { authorization: `Bearer ${key}` } : {}),
  });
  let sent = 0;
  const s: Slow = { sent: () => sent };
  const note = (h: http2.IncomingHttpHeaders) => {
    if (h['grpc-status'] === undefined) return;
    s.status = String(h['grpc-status']);
    s.message = decodeURIComponent(String(h['grpc-message'] ?? ''));
    const code = h['mixer-code'];
    if (code !== undefined) s.code = String(code);
  };
  req.on('response', note);
  req.on('trailers', note);
  req.on('error', () => {});
  req.resume();
  req.write(framed(Buffer.alloc(0), size));
  const timer = setInterval(() => {
    if (req.closed || sent + chunk >= size) return;
    req.write(Buffer.alloc(chunk, 1));
    sent += chunk;
  }, 20);
  req.on('close', () => {
    clearInterval(timer);
    s.closedMs = Date.now() - t0;
  });
  return s;
}

t.test(
  'F1: slow 9 MB-prefix calls without a key are refused at their headers and closed; nothing is buffered',
  async (t) => {
    const app = await testApp(t, { modelPath, apiKeys: [KEY], grpcPort: 0, host: '127.0.0.1' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const ep = grpcEndpoint(app)!;
    const sessions = Array.from({ length: 4 }, () =>
      http2.connect(`http://127.0.0.1:${ep.port}`).on('error', () => {}),
    );
    t.teardown(() => sessions.forEach((s) => s.destroy()));
    const rss0 = process.memoryUsage().rss;
    const calls = Array.from({ length: 40 }, (_, i) => slowCall(sessions[i % 4]!, 9 * 1024 * 1024));
    await until(() => calls.every((c) => c.closedMs !== undefined), 5000, 'every stream closed by the server');
    t.ok(
      calls.every((c) => c.status === '16' && c.code === 'UNAUTHORIZED'),
      'each gets UNAUTHENTICATED, code UNAUTHORIZED',
    );
    t.match(calls[0]!.message, /missing API key/);
    t.ok(Math.max(...calls.map((c) => c.closedMs!)) < 3000, 'and is closed at once, not when its body would end');
    t.equal(ep.guard!.bufferedBytes, 0, 'no request bytes held');
    t.equal(ep.guard!.unauthenticated, 40);
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    t.ok(grown < 100, `RSS grew ${grown.toFixed(0)} MB (40 × 9 MB announced)`);
  },
);

t.test(
  'F1 with a valid key: a slow body meets the receive deadline; all calls together meet the byte bound',
  async (t) => {
    const app = await testApp(t, {
      modelPath,
      apiKeys: [KEY],
      grpcPort: 0,
      host: '127.0.0.1',
      requestTimeoutMs: 1000,
      bodyLimit: 4 * 1024 * 1024,
      grpcMaxBufferedBytes: 4 * 1024 * 1024,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const ep = grpcEndpoint(app)!;
    const session = http2.connect(`http://127.0.0.1:${ep.port}`).on('error', () => {});
    t.teardown(() => session.destroy());

    // One trickling call: 1 kB every 20 ms never reaches its 3 MB, and is answered at the deadline.
    const slow = slowCall(session, 3 * 1024 * 1024, KEY, 1024);
    await until(() => slow.closedMs !== undefined, 4000, 'the slow call to be closed');
    t.same([slow.status, slow.code], ['4', 'REQUEST_TIMEOUT'], 'DEADLINE_EXCEEDED, code REQUEST_TIMEOUT');
    t.ok(slow.closedMs! >= 900 && slow.closedMs! < 3000, `closed after ${slow.closedMs} ms (REQUEST_TIMEOUT_MS 1000)`);
    t.equal(ep.guard!.receiveTimeouts, 1);

    // Eight calls each sending 64 kB every 20 ms towards 3.5 MB: together they pass the 4 MB bound long before.
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, ep.guard!.bufferedBytes)), 5);
    const calls = Array.from({ length: 8 }, () => slowCall(session, 3.5 * 1024 * 1024, KEY));
    await until(() => calls.every((c) => c.closedMs !== undefined), 5000, 'every call to be closed');
    clearInterval(watch);
    const shed = calls.filter((c) => c.status === '14' && c.code === 'OVERLOADED');
    t.ok(shed.length >= 1, `${shed.length} of 8 got UNAVAILABLE OVERLOADED`);
    t.ok(
      calls.every((c) => c.status === '14' || c.status === '4'),
      'the others met the deadline; none was left open',
    );
    t.ok(peak <= 4 * 1024 * 1024 + 64 * 1024, `held at most ${peak} bytes (bound 4 MiB + one read buffer)`);
    await until(() => ep.guard!.bufferedBytes === 0, 2000, 'the held bytes to be released');
    t.ok(ep.guard!.overBudget >= 1);

    // A normal call still goes through.
    const ok = await new Promise<{ status?: string; data: number }>((resolve) => {
      const req = session.request({
        ':method': 'POST',
        ':path': INFER,
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: `Bearer ${KEY}`,
      });
      let data = 0;
      req.on('data', (d: Buffer) => (data += d.length));
      req.on('trailers', (h) => resolve({ status: String(h['grpc-status']), data }));
      req.end(
        framed(
          inferDef.requestSerialize({
            model_name: 'mixer-test',
            inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
            raw_input_contents: [noise(32, 32, 3)],
          }),
        ),
      );
    });
    t.equal(ok.status, '0');
    t.ok(ok.data > 0, 'with its answer');
  },
);

t.test(
  'F2: silent connections past the cap are closed at once, the rest at the preface timeout; idle ones too',
  async (t) => {
    const app = await testApp(t, {
      modelPath,
      grpcPort: 0,
      host: '127.0.0.1',
      grpcMaxConnections: 20,
      headersTimeoutMs: 800,
      grpcIdleTimeoutMs: 600,
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const ep = grpcEndpoint(app)!;
    const t0 = Date.now();
    const closed: number[] = [];
    const sockets = Array.from({ length: 200 }, () => {
      const s = net.connect(ep.port, '127.0.0.1');
      s.on('error', () => {});
      s.resume();
      s.on('close', () => closed.push(Date.now() - t0));
      return s;
    });
    t.teardown(() => sockets.forEach((s) => s.destroy()));
    await until(() => closed.length >= 180, 3000, '180 connections past the cap to be closed');
    t.ok(closed.length < 200, 'the first 20 are held until their preface timeout');
    const health = await fetch(`${address}/healthz`);
    t.equal(health.status, 200, 'HTTP answers during the flood');
    await until(() => closed.length === 200, 3000, 'the rest to be closed at the preface timeout');
    t.ok(closed.at(-1)! >= 500, `the last at ${closed.at(-1)} ms (idle timeout 600 ms, preface timeout 800 ms)`);
    const g = ep.guard!;
    // The 20 held ones close at the first of two deadlines (grpc-js's idle timeout or the guard's preface timer), so
    // only the drops at the cap are counted exactly.
    t.ok(
      g.droppedConnections >= 180,
      `dropped at the cap ${g.droppedConnections} (preface timeouts ${g.handshakeTimeouts})`,
    );

    // A connection that speaks HTTP/2 but opens no call is closed by the idle timeout.
    const h2 = http2.connect(`http://127.0.0.1:${ep.port}`).on('error', () => {});
    const c0 = Date.now();
    await new Promise((r) => h2.once('close', r));
    const idleMs = Date.now() - c0;
    t.ok(idleMs >= 500 && idleMs < 3000, `idle HTTP/2 connection closed after ${idleMs} ms (GRPC_IDLE_TIMEOUT_MS 600)`);
  },
);

t.test('F2 as a process under ulimit -n 256: a connection flood leaves the HTTP port its descriptors', async (t) => {
  const child: ChildProcess = spawn(
    '/bin/sh',
    ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, CLI, 'serve'],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        GRPC_PORT: '0',
        HOST: '127.0.0.1',
        MODEL_PATH: modelPath,
        THREADS: '1',
        HEADERS_TIMEOUT_MS: '3000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // gRPC logs its port before the service's "ready" line: wait for both.
  await until(
    () => (/"grpcPort":\d+/.test(out) && /"msg":"ready"/.test(out)) || child.exitCode !== null,
    60_000,
    'the server to listen',
  );
  if (child.exitCode !== null) return t.fail(`serve exited with ${child.exitCode}:\n${out}`);
  const port = Number(/"port":(\d+)/.exec(out)![1]);
  const grpcPort = Number(/"grpcPort":(\d+)/.exec(out)![1]);
  t.match(out, /"openFileLimit":256/, 'the low fd limit is warned about at start');
  t.match(out, /"grpcMaxConnections":64/, 'with the gRPC connection cap derived from it (a quarter)');
  const sockets: net.Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  await Promise.all(
    Array.from(
      { length: 400 },
      () =>
        new Promise<void>((resolve) => {
          const s = net.connect(grpcPort, '127.0.0.1');
          sockets.push(s);
          s.resume();
          s.on('connect', () => resolve());
          s.on('error', () => resolve());
        }),
    ),
  );
  const fds = readdirSync(`/proc/${child.pid}/fd`).length;
  t.ok(fds < 200, `server holds ${fds} descriptors of 256 during the flood`);
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    t.equal(r.status, 200, `HTTP /healthz ${i + 1} during the flood`);
  }
});

/** A unary call from a client that accepts headers of any size: grpc-status and the grpc-message's length. */
function bigHeaderCall(port: number, method: string, body: Buffer): Promise<{ status: string; len: number }> {
  return new Promise((resolve, reject) => {
    const c = http2.connect(`http://127.0.0.1:${port}`, {
      maxSessionMemory: 1000,
      settings: { maxHeaderListSize: 2 ** 30 },
    });
    c.on('error', reject);
    const req = c.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
    const done = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] === undefined) return;
      c.close();
      resolve({ status: String(h['grpc-status']), len: decodeURIComponent(String(h['grpc-message'] ?? '')).length });
    };
    req.on('response', done);
    req.on('trailers', done);
    req.on('error', reject);
    req.resume();
    req.end(framed(body));
  });
}

t.test('F3: error messages bound the client input they name', async (t) => {
  const app = await testApp(t, { modelPath, grpcPort: 0, host: '127.0.0.1' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = grpcEndpoint(app)!.port;
  const big = 'x'.repeat(1 << 20);
  for (const [what, method, body, status] of [
    [
      'ModelInfer, 1 MB input name, datatype FOO',
      INFER,
      inferDef.requestSerialize({
        model_name: 'mixer-test',
        inputs: [{ name: big, datatype: 'FOO', shape: [1], contents: { int_contents: [1] } }],
      }),
      '3',
    ],
    [
      'ModelInfer, 1 MB input name, no contents',
      INFER,
      inferDef.requestSerialize({ model_name: 'mixer-test', inputs: [{ name: big, datatype: 'UINT8', shape: [1] }] }),
      '3',
    ],
    [
      'ModelStatistics, 8 kB model name',
      '/inference.GRPCInferenceService/ModelStatistics',
      tritonService().service['ModelStatistics']!.requestSerialize({ name: 'm'.repeat(8000), version: '' }),
      '3', // longer than any model name may be: INVALID_ARGUMENT
    ],
    [
      'health Check, 8 kB service',
      '/grpc.health.v1.Health/Check',
      grpcClients().grpc.health.v1.Health.service['Check']!.requestSerialize({ service: 's'.repeat(8000) }),
      '5',
    ],
    ['an unknown 10 kB method path', `/${'p'.repeat(10_000)}`, Buffer.alloc(0), '12'],
  ] as const) {
    const r = await bigHeaderCall(port, method, body);
    t.equal(r.status, status, `${what}: status`);
    t.ok(r.len > 0 && r.len <= 200, `${what}: grpc-message of ${r.len} characters`);
  }
});

// HPACK (RFC 7541) integer with an n-bit prefix, and a literal header field without indexing (no Huffman coding).
const hpackInt = (v: number, n: number, first = 0): number[] => {
  const max = (1 << n) - 1;
  if (v < max) return [first | v];
  const out = [first | max];
  for (v -= max; v >= 128; v >>= 7) out.push((v & 127) | 128);
  return [...out, v];
};
const literal = (name: string, value: string): Buffer =>
  Buffer.concat([
    Buffer.from([0, ...hpackInt(name.length, 7)]),
    Buffer.from(name),
    Buffer.from(hpackInt(value.length, 7)),
    Buffer.from(value),
  ]);
const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
};

/**
 * One ModelMetadata call over a raw socket, its headers written by hand so that `authorization` can appear twice
 * (Node's and grpc-js's clients refuse to send that). Resolves with the frames the server sent on the call's stream.
 */
function rawCall(port: number, auth: string[]): Promise<{ type: number; flags: number; payload: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const frames: { type: number; flags: number; payload: Buffer }[] = [];
    let buf = Buffer.alloc(0);
    const finish = () => {
      s.destroy();
      resolve(frames);
    };
    const timer = setTimeout(finish, 5000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const [type, flags] = [buf[3]!, buf[4]!];
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 4 && !(flags & 1)) s.write(frame(4, 1, 0, Buffer.alloc(0)));
        if (stream !== 1) continue;
        frames.push({ type, flags, payload });
        if (type === 3 || (type === 1 && flags & 1) || (type === 0 && flags & 1)) {
          clearTimeout(timer);
          finish();
        }
      }
    });
    const block = Buffer.concat([
      literal(':method', 'POST'),
      literal(':scheme', 'http'),
      literal(':path', METADATA),
      literal(':authority', `127.0.0.1:${port}`),
      literal('content-type', 'application/grpc'),
      literal('te', 'trailers'),
      ...auth.map((a) => literal('authorization', a)),
    ]);
    s.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        frame(4, 0, 0, Buffer.alloc(0)),
        frame(1, 4, 1, block),
        frame(0, 1, 1, framed(metaDef.requestSerialize({ name: 'mixer-test', version: '' }))),
      ]),
    );
  });
}

t.test('duplicated authorization metadata gets UNAUTHENTICATED, even when both entries hold the key', async (t) => {
  const app = await testApp(t, { modelPath, apiKeys: [KEY], grpcPort: 0, host: '127.0.0.1' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = grpcEndpoint(app)!.port;
  const one = await rawCall(port, [`Bearer ${KEY}`]);
  t.ok(
    one.some((f) => f.type === 0 && f.payload.length > 0),
    'control: one authorization entry gets the metadata answer',
  );
  for (const pair of [
    [`Bearer ${KEY}`, `Bearer ${KEY}`],
    [`Bearer ${KEY}`, 'Bearer wrong'],
  ]) {
    const two = await rawCall(port, pair);
    t.notOk(
      two.some((f) => f.type === 0 && f.payload.length > 0),
      'two entries: no answer message',
    );
    const headers = two.find((f) => f.type === 1);
    t.ok(headers && headers.flags & 1, 'a trailers-only status');
    // grpc-status "16" as a literal string (HPACK's Huffman code would not be shorter): length 2, "16".
    t.ok(headers!.payload.includes(Buffer.from([2, 0x31, 0x36])), 'grpc-status 16 (UNAUTHENTICATED)');
  }
  t.equal(grpcEndpoint(app)!.guard!.unauthenticated, 2);
  const ring = new KeyRing([KEY]);
  t.match(checkApiKey([`Bearer ${KEY}`, `Bearer ${KEY}`], ring), /2 authorization entries/);
  t.equal(checkApiKey([`Bearer ${KEY}`], ring), null);
});
