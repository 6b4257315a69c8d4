// Raw-socket tests of the HTTP layer: request and header timeouts fire on time, and parser-level errors use the documented JSON shape.
import t from 'tap';
import { rawUntilClose } from '../../bench/attacks-harness.js';
import { listenLocal } from '../fixtures/listen.js';
import { testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const REQUEST_MS = 2000;
const HEADERS_MS = 1500;
const app = await testApp(t, {
  modelPath: writeModel(t.testdir()),
  requestTimeoutMs: REQUEST_MS,
  headersTimeoutMs: HEADERS_MS,
  metricsPort: 0,
});
const { port } = await listenLocal(app);

/** Writes `text` on a fresh connection; resolves with what came back and when the server closed it. */
const exchange = (text: string, limitMs = 20_000) => rawUntilClose(port, text, limitMs);

const jsonOf = (raw: string): Record<string, unknown> =>
  JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

t.test('a body that never arrives: 408 REQUEST_TIMEOUT within a second or so of REQUEST_TIMEOUT_MS', async (t) => {
  const r = await exchange(
    'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n',
  );
  t.ok(r.closed, 'the server closed the connection');
  t.ok(
    r.ms >= REQUEST_MS - 50 && r.ms < REQUEST_MS + 1500,
    `closed after ${r.ms.toFixed(0)} ms (timeout ${REQUEST_MS})`,
  );
  t.match(r.got, /^HTTP\/1\.1 408 /);
  t.same(jsonOf(r.got), {
    statusCode: 408,
    code: 'REQUEST_TIMEOUT',
    error: 'Request Timeout',
    message: jsonOf(r.got)['message'],
  });
});

t.test('headers that never end: 408 within a second or so of HEADERS_TIMEOUT_MS', async (t) => {
  const r = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
  t.ok(r.closed);
  t.ok(
    r.ms >= HEADERS_MS - 50 && r.ms < HEADERS_MS + 1500,
    `closed after ${r.ms.toFixed(0)} ms (timeout ${HEADERS_MS})`,
  );
  t.match(jsonOf(r.got), { statusCode: 408, code: 'REQUEST_TIMEOUT' });
});

t.test('parser errors: 431 HEADERS_TOO_LARGE and 400 BAD_REQUEST in the error shape', async (t) => {
  const big = await exchange(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(big.got, /^HTTP\/1\.1 431 /);
  t.match(jsonOf(big.got), { statusCode: 431, code: 'HEADERS_TOO_LARGE', error: 'Request Header Fields Too Large' });
  t.match(big.got, /x-content-type-options: nosniff/i);
  const bad = await exchange('GET /healthz HTTP/1.1\r\nHost x\r\n\r\n');
  t.match(bad.got, /^HTTP\/1\.1 400 /);
  t.match(jsonOf(bad.got), {
    statusCode: 400,
    code: 'BAD_REQUEST',
    error: 'Bad Request',
    message: /malformed HTTP request/,
  });
  const url = await exchange('GET /v2/models/%E0%A4%A/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(url.got, /^HTTP\/1\.1 400 /);
  t.match(jsonOf(url.got), { code: 'BAD_REQUEST', message: 'malformed URL' });
  const ok = await exchange('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(ok.got, /^HTTP\/1\.1 200 /, 'the server still answers');
});

t.test(
  'the metrics listener keeps the same timeouts: a silent client is closed after HEADERS_TIMEOUT_MS',
  async (t) => {
    // Fastify runs onListen hooks (which start the metrics listener) after listen() resolves.
    await until(() => app.mixer.state.metricsAddress !== undefined, 10_000, 'the metrics listener', 5);
    const metricsPort = app.mixer.state.metricsAddress!.port;
    const silent = await rawUntilClose(metricsPort, '', 20_000);
    t.ok(silent.closed, 'the metrics listener closed the silent connection');
    t.ok(
      silent.ms >= HEADERS_MS - 50 && silent.ms < HEADERS_MS + 1500,
      `closed after ${silent.ms} ms (timeout ${HEADERS_MS}; Node's default check would take up to 30 s)`,
    );
    const slow = await rawUntilClose(metricsPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', 20_000);
    t.ok(slow.ms < HEADERS_MS + 1500, `headers that never end: closed after ${slow.ms} ms`);
    t.match(jsonOf(slow.got), { statusCode: 408, code: 'REQUEST_TIMEOUT' }, 'answered in the JSON error shape');
    const ok = await rawUntilClose(metricsPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000);
    t.match(ok.got, /^HTTP\/1\.1 200 /, 'the metrics listener still answers');
  },
);
