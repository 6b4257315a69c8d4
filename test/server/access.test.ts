// Access control and exposure: API keys (constant-time, never logged), the metrics listener, CORS and security headers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { isOpenPath, KeyRing } from '../../src/server/auth.js';
import { ConfigError, resolveConfig } from '../../src/server/config.js';
import { listenLocal } from '../fixtures/listen.js';
import { image, testApp, writeModel } from '../fixtures/server.js';

const dir = t.testdir();
const modelPath = writeModel(dir);
const OLD = 'old-key-0123456789abcdef';
const NEW = 'new-key-fedcba9876543210';
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(keyFile, `# rotated keys\n${NEW}\n\n`);

let logged = '';
const logStream = new Writable({
  write(chunk: Buffer, _enc, cb) {
    logged += chunk.toString();
    cb();
  },
});
const app = await testApp(t, {
  modelPath,
  apiKeys: [OLD],
  apiKeyFile: keyFile,
  metricsPort: 0,
  logger: true,
  logLevel: 'trace',
  logStream,
});
const { url } = await listenLocal(app);
const png = await image('png');

t.test('keys come from flags, env (comma-separated) and a file; bad ones fail without echoing the key', async (t) => {
  t.same(resolveConfig({}, { API_KEYS: 'a-key, b-key,,' }).apiKeys, ['a-key', 'b-key']);
  t.same(resolveConfig({ apiKeys: ['x'], apiKeyFile: keyFile }).apiKeys, ['x', NEW]);
  t.same(resolveConfig({}).apiKeys, [], 'no keys by default');
  // A key setting that is present but empty refuses to start, as API_KEYS=,, does, rather than running open.
  for (const env of [{ API_KEYS: '' }, { API_KEYS: '  ' }, { API_KEYS_FILE: '' }])
    t.throws(
      () => resolveConfig({}, env),
      { name: 'ConfigError', message: /^API_KEYS(_FILE)? is set but empty: .*unset it to run without access control/ },
      `${JSON.stringify(env)} is refused`,
    );
  t.throws(() => resolveConfig({}, { API_KEYS: ',,' }), { message: 'API_KEYS must not be empty' });
  t.throws(() => resolveConfig({}, { API_KEYS: 'good,sec ret' }), ConfigError);
  try {
    resolveConfig({}, { API_KEYS: 'good,sec ret' });
  } catch (e) {
    t.notMatch((e as Error).message, /sec ret/, 'the message names the key by position only');
  }
  t.throws(() => resolveConfig({ apiKeyFile: path.join(dir, 'missing') }), /cannot read the API key file/);
  t.equal(
    resolveConfig({ requestTimeoutMs: 5000 }).headersTimeoutMs,
    5000,
    'the header timeout is capped by the request timeout',
  );
});

t.test('KeyRing: Bearer scheme, any of the keys, nothing else', async (t) => {
  const ring = new KeyRing([OLD, NEW]);
  t.ok(ring.allows(`Bearer ${OLD}`));
  t.ok(ring.allows(`bearer ${NEW}`));
  for (const bad of [
    undefined,
    '',
    OLD,
    `Basic ${OLD}`,
    `Bearer ${OLD}x`,
    `Bearer ${OLD.slice(0, -1)}`,
    'Bearer ',
    `Bearer ${OLD} ${NEW}`,
  ])
    t.notOk(ring.allows(bad), `refuses ${String(bad)}`);
  t.notOk(new KeyRing([]).enabled);
  t.ok(
    isOpenPath('/healthz') &&
      isOpenPath('/readyz?x=1') &&
      isOpenPath('/v2/health/ready') &&
      !isOpenPath('/v2/models/x/ready'),
  );
});

t.test('without a key: 401 UNAUTHORIZED with WWW-Authenticate, except for the health probes', async (t) => {
  const routes: [method: string, path: string][] = [
    ['GET', '/v1/model'],
    ['GET', '/openapi.json'],
    ['GET', '/v2'],
    ['GET', '/v2/models/mixer-test'],
    ['POST', '/classify'],
    ['GET', '/nope'],
  ];
  for (const [method, p] of routes) {
    const r = await fetch(`${url}${p}`, {
      method,
      ...(method === 'POST' ? { body: png, headers: { 'content-type': 'image/png' } } : {}),
    });
    t.equal(r.status, 401, `${method} ${p}`);
    t.match(r.headers.get('www-authenticate'), /^Bearer/);
    const j = (await r.json()) as { message: string };
    // On /v2 paths `error` is the message (Triton clients show only that field); elsewhere the reason phrase.
    t.match(j, { statusCode: 401, code: 'UNAUTHORIZED', error: p.startsWith('/v2') ? j.message : 'Unauthorized' });
  }
  const wrong = await fetch(`${url}/v1/model`, { headers: { authorization: 'Bearer not-a-key' } });
  t.equal(wrong.status, 401);
  t.match(await wrong.json(), { message: 'the API key is not valid' });
  for (const p of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready'])
    t.equal((await fetch(`${url}${p}`)).status, 200, `${p} is open`);
});

t.test('key rotation: the old and the new key both work while both are set', async (t) => {
  for (const key of [OLD, NEW]) {
    const r = await fetch(`${url}/classify?top=1`, {
      method: 'POST',
      headers: { 'content-type': 'image/png', authorization: `Bearer ${key}` },
      body: png,
    });
    t.equal(r.status, 200);
  }
});

t.test('/metrics lives on its own listener without a key, and no longer on the main port', async (t) => {
  const addr = app.mixer.state.metricsAddress!;
  t.equal(addr.address, '127.0.0.1', 'bound to the metrics host');
  const m = await fetch(`http://127.0.0.1:${addr.port}/metrics`);
  t.equal(m.status, 200);
  t.match(await m.text(), /mixer_http_requests_total/);
  const other = await fetch(`http://127.0.0.1:${addr.port}/v1/model`);
  t.equal(other.status, 404);
  t.match(await other.json(), { code: 'NOT_FOUND' });
  const main = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${OLD}` } });
  t.equal(main.status, 404, 'not on the main port');
});

t.test('no key ever reaches the log, even at trace level', async (t) => {
  t.ok(logged.length > 0, 'something was logged');
  t.notMatch(logged, new RegExp(OLD));
  t.notMatch(logged, new RegExp(NEW));
  t.notMatch(logged, /not-a-key/);
});

t.test('security headers on every answer; no CORS by default', async (t) => {
  const r = await fetch(`${url}/healthz`, { headers: { origin: 'https://evil.example' } });
  t.equal(r.headers.get('x-content-type-options'), 'nosniff');
  t.equal(r.headers.get('x-frame-options'), 'DENY');
  t.match(r.headers.get('content-security-policy'), /default-src 'none'/);
  t.equal(r.headers.get('referrer-policy'), 'no-referrer');
  t.equal(r.headers.get('access-control-allow-origin'), null);
  const pre = await fetch(`${url}/classify`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  t.equal(pre.headers.get('access-control-allow-origin'), null, 'no preflight answer');
});

t.test('--cors-origin: the allowed origin gets CORS headers and a keyless preflight; others do not', async (t) => {
  const cors = await testApp(t, { modelPath, apiKeys: [OLD], corsOrigins: ['https://app.example'] });
  const pre = await cors.inject({
    method: 'OPTIONS',
    url: '/classify',
    headers: {
      origin: 'https://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization',
    },
  });
  t.equal(pre.statusCode, 204);
  t.equal(pre.headers['access-control-allow-origin'], 'https://app.example');
  t.match(pre.headers['access-control-allow-headers'], /authorization/);
  t.match(pre.headers['access-control-allow-methods'], /POST/);
  const get = await cors.inject({
    url: '/v1/model',
    headers: { origin: 'https://app.example', authorization: `Bearer ${OLD}` },
  });
  t.equal(get.statusCode, 200);
  t.equal(get.headers['access-control-allow-origin'], 'https://app.example');
  t.match(get.headers['access-control-expose-headers'], /x-request-id/);
  const other = await cors.inject({
    method: 'OPTIONS',
    url: '/classify',
    headers: { origin: 'https://other.example', 'access-control-request-method': 'POST' },
  });
  t.equal(other.headers['access-control-allow-origin'], undefined);
  t.equal(other.statusCode, 401, 'a preflight from another origin is just an unauthenticated request');
});
