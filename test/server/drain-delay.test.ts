// `mixer serve` with DRAIN_DELAY_MS: after SIGTERM, keep-alive and new connections get 503 SHUTTING_DOWN + Connection: close (never a reset), then it exits 0; at the default delay nothing sent before SIGTERM goes unanswered.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { readyPort } from '../fixtures/serve-process.js';
import { image, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const modelPath = writeModel(t.testdir());
/** The compiled CLI (`npm test` builds dist/ first): starting it does not compile TypeScript again. */
const CLI = path.join(ROOT, 'dist/cli/main.js');
const readyPng = image('png');

/** A keep-alive HTTP/1.1 client on one socket: send a request, read one response (status, headers, body). */
class KeepAlive {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  error: Error | null = null;
  readonly socket: net.Socket;
  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d) => {
      this.buf += d.toString();
      this.waiters.splice(0).forEach((w) => w());
    });
    this.socket.on('error', (e) => (this.error = e));
    this.socket.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  /** POSTs `body` with its type, then reads the answer as request() does. */
  post(url: string, type: string, body: Buffer) {
    return this.request('POST', url, { type, body });
  }
  async request(
    method: string,
    url: string,
    payload?: { type: string; body: Buffer },
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const head = `${method} ${url} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n`;
    if (payload)
      this.socket.write(
        Buffer.concat([
          Buffer.from(`${head}Content-Type: ${payload.type}\r\nContent-Length: ${payload.body.length}\r\n\r\n`),
          payload.body,
        ]),
      );
    else this.socket.write(`${head}Content-Length: 0\r\n\r\n`);
    for (;;) {
      const cut = this.buf.indexOf('\r\n\r\n');
      if (cut >= 0) {
        const lines = this.buf.slice(0, cut).split('\r\n');
        const headers = Object.fromEntries(
          lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
        );
        const len = Number(headers['content-length'] ?? 0);
        if (this.buf.length >= cut + 4 + len) {
          const body = this.buf.slice(cut + 4, cut + 4 + len);
          this.buf = this.buf.slice(cut + 4 + len);
          return { status: Number(lines[0]!.split(' ')[1]), headers, body };
        }
      }
      if (this.closed) throw this.error ?? new Error('connection closed before an answer');
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

/** Starts `mixer serve` from dist/ with `env` over a clean environment; resolves with the child, its output and port. */
async function start(env: Record<string, string>) {
  const base = { ...process.env };
  delete base['DRAIN_DELAY_MS'];
  const child = spawn(process.execPath, [CLI, 'serve'], {
    cwd: ROOT,
    env: { ...base, PORT: '0', HOST: '127.0.0.1', MODEL_PATH: modelPath, THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const port = await readyPort({ out: () => out, exit }, 30_000);
  return { child, exit, port, out: () => out };
}

t.test('at the default drain delay, every request sent just before SIGTERM gets an answer', async (t) => {
  const png = await readyPng;
  let lost = 0;
  let sent = 0;
  for (let round = 0; round < 3; round++) {
    const s = await start({});
    t.teardown(() => void s.child.kill('SIGKILL'));
    t.ok(s.port, `round ${round}: listening`);
    // Kept-alive connections (idle when the signal comes) and fresh ones, each with a request sent just before it.
    const kept = Array.from({ length: 12 }, () => new KeepAlive(s.port));
    await Promise.all(kept.map((c) => c.request('GET', '/healthz')));
    const answers = [
      ...kept.map((c, i) => (i % 2 ? c.request('GET', '/v1/model') : c.post('/classify?top=1', 'image/png', png))),
      ...Array.from({ length: 12 }, (_, i) => {
        const c = new KeepAlive(s.port);
        return i % 2 ? c.request('GET', '/v1/model') : c.post('/classify?top=1', 'image/png', png);
      }),
    ].map((p) => p.then((r) => r.status).catch(() => 0));
    // Not a wait for an event: the signal is meant to land while these requests are still on their way.
    await new Promise((r) => setTimeout(r, 5));
    s.child.kill('SIGTERM');
    const statuses = await Promise.all(answers);
    sent += statuses.length;
    lost += statuses.filter((x) => x === 0).length;
    t.ok(
      statuses.every((x) => x === 200 || x === 503),
      `round ${round}: every request answered (200, or 503 SHUTTING_DOWN): ${statuses}`,
    );
    t.equal(await s.exit, 0, 'exits 0');
  }
  t.equal(lost, 0, `${lost} of ${sent} requests sent 5 ms before SIGTERM went unanswered`);
});

t.test(
  'DRAIN_DELAY_MS: 503 SHUTTING_DOWN on kept-alive and new connections during the delay, then exit 0',
  async (t) => {
    const child = spawn(process.execPath, [CLI, 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        MODEL_PATH: modelPath,
        THREADS: '1',
        DRAIN_DELAY_MS: '1500',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    t.teardown(() => void child.kill('SIGKILL'));
    const port = await readyPort({ out: () => out, exit }, 30_000);
    t.ok(port, 'listening');

    const idle = new KeepAlive(port);
    const busy = new KeepAlive(port);
    t.equal((await idle.request('GET', '/readyz')).status, 200, 'ready before the signal');
    t.equal((await busy.request('GET', '/healthz')).status, 200);
    const t0 = Date.now();
    child.kill('SIGTERM');
    await until(() => /shutting down/.test(out), 1000, 'the drain to start');

    const a = await busy.request('GET', '/v1/model');
    t.equal(a.status, 503, 'a request on a kept-alive connection gets 503');
    t.equal(JSON.parse(a.body).code, 'SHUTTING_DOWN');
    t.equal(a.headers['connection'], 'close', 'and the connection is closed after it');
    t.ok(a.headers['retry-after'], 'with Retry-After');
    const fresh = new KeepAlive(port);
    const b = await fresh.request('POST', '/classify');
    t.equal(b.status, 503, 'a new connection is still accepted during the delay, and answered 503');
    t.equal(JSON.parse(b.body).code, 'SHUTTING_DOWN');
    const r = await idle.request('GET', '/readyz');
    t.equal(r.status, 503, 'readiness fails during the delay');

    t.equal(await exit, 0, 'exits 0');
    const took = Date.now() - t0;
    t.ok(took >= 1400, `kept serving 503s for the delay (${took} ms)`);
    for (const c of [idle, busy, fresh])
      t.notOk(c.error && /ECONNRESET/.test(String(c.error)), 'no connection was reset');
    t.match(out, /"drainDelayMs":1500/, 'the delay is logged');
  },
);
