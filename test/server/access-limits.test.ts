// Scopes and rate limits: the key file's fields, token buckets, and 403 / 429 (gRPC PERMISSION_DENIED / RESOURCE_EXHAUSTED) on a real server with an explicit repository.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { parseKeyLines } from '../../src/server/access/keys-file.js';
import { parseRate, TokenBuckets } from '../../src/server/access/rate.js';
import { grpcScope, httpScope } from '../../src/server/access/scopes.js';
import { resolveConfig } from '../../src/server/config.js';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, fails, grpcClient } from '../fixtures/grpc.js';
import { image, testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

t.test('key file lines: scopes, rate, burst, name, comments; errors name the line, never the key', async (t) => {
  const lines = parseKeyLines(
    [
      '# reader and operator',
      'k-read scopes=infer name=reader   # a trailing comment',
      '',
      'k#hash   scopes=admin,infer,admin rate=0.5/s burst=3',
      'k-full',
    ].join('\n'),
    'keys.txt',
  );
  t.same(lines, [
    { key: 'k-read', scopes: ['infer'], rate: null, burst: null, name: 'reader' },
    { key: 'k#hash', scopes: ['admin', 'infer'], rate: 0.5, burst: 3, name: null },
    { key: 'k-full', scopes: null, rate: null, burst: null, name: null },
  ]);
  const bad: [text: string, message: RegExp][] = [
    ['sekrit scopes=infer,root', /^keys\.txt line 1: scopes= takes .*got "root"/],
    ['sekrit scopes=', /line 1: scopes= takes/],
    ['sekrit rate=10', /line 1: a rate must look like 10\/s/],
    ['sekrit rate=0/s', /line 1: a rate must look like/],
    ['sekrit burst=0', /line 1: a burst must be a whole number/],
    ['sekrit color=red', /line 1: unknown field "color"/],
    ['sekrit name=has space', /line 1: unknown field "space"/],
    ['sekrit\n\nsekrit scopes=infer', /line 3: the same key as line 1/],
    ['a name=x\nb name=x', /two keys are named "x"/],
    ['# nothing\n', /has no key/],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseKeyLines(text, 'keys.txt'), { name: 'ConfigError', message }, text);
    try {
      parseKeyLines(text, 'keys.txt');
    } catch (e) {
      t.notMatch((e as Error).message, /sekrit/, 'the key is not in the message');
    }
  }
});

t.test('--rate-limit R/s[:B]', async (t) => {
  t.same(parseRate('10/s'), { perSecond: 10, burst: 10 });
  t.same(parseRate('10/s:20'), { perSecond: 10, burst: 20 });
  t.same(parseRate('0.5/s'), { perSecond: 0.5, burst: 1 });
  for (const bad of ['10', '10/m', '-1/s', '0/s', '10/s:0', '10/s:1.5', '10/s:2:3', '/s'])
    t.type(parseRate(bad), 'string', `${bad} is refused`);
  t.throws(() => resolveConfig({ rateLimit: '10 per second' }), /--rate-limit \(RATE_LIMIT\): a rate must look like/);
  t.equal(resolveConfig({}, { RATE_LIMIT: '5/s:7' }).rateLimit, '5/s:7');
  const dir = t.testdir({ 'keys.txt': 'k1 burst=5\n' });
  t.throws(
    () => resolveConfig({ apiKeyFile: path.join(dir, 'keys.txt') }),
    /key 1 sets burst= without rate=, and there is no --rate-limit/,
  );
  t.ok(resolveConfig({ apiKeyFile: path.join(dir, 'keys.txt'), rateLimit: '1/s' }));
});

t.test('token buckets: a burst, then the refill rate, exactly (clock under test control)', async (t) => {
  let now = 0;
  const b = new TokenBuckets(() => now);
  const rate = { perSecond: 10, burst: 20 };
  const oks: boolean[] = [];
  for (let i = 0; i < 25; i++) oks.push(b.take('k', rate).ok);
  t.same(oks, [...Array(20).fill(true), ...Array(5).fill(false)], '20 from full, then refused');
  const refused = b.take('k', rate);
  t.match(refused, { ok: false, remaining: 0, retryAfterS: 1, resetS: 2 });
  t.ok(b.take('other', rate).ok, 'another id has its own bucket');
  // Over 3 s at 10/s: exactly 30 more, one per 100 ms.
  let allowed = 0;
  for (now = 1; now <= 3000; now += 1) if (b.take('k', rate).ok) allowed++;
  t.equal(allowed, 30);
  now += 10_000;
  t.match(b.take('k', rate), { ok: true, remaining: 19, resetS: 1 }, 'refilled to the burst, not beyond');
  t.notOk(b.empty('k', rate));
});

t.test('route → scope', async (t) => {
  const cases: [route: string, scope: string][] = [
    ['/v2/repository/index', 'admin'],
    ['/v2/repository/models/:name/load', 'admin'],
    ['/v2/trace/setting', 'admin'],
    ['/v2/logging', 'admin'],
    ['/v1/feedback', 'feedback'],
    ['/v1/feedback/:model', 'admin'],
    ['/v1/feedbackx', 'infer'],
    ['/classify', 'infer'],
    ['/v2/models/:name/infer', 'infer'],
    ['/v2/models/stats', 'infer'],
    ['/metrics', 'infer'],
    ['/v2/repositoryx', 'infer'],
    ['/v2/models/repository/infer', 'infer'],
  ];
  for (const [route, scope] of cases) t.equal(httpScope(route), scope, route);
  t.equal(grpcScope('/inference.GRPCInferenceService/RepositoryModelLoad'), 'admin');
  t.equal(grpcScope('/inference.GRPCInferenceService/RepositoryIndex'), 'admin');
  t.equal(grpcScope('/inference.GRPCInferenceService/ModelInfer'), 'infer');
  t.equal(grpcScope('/inference.GRPCInferenceService/ModelStatistics'), 'infer');
});

// A real server: two models in an explicit repository, keys with scopes and one rate-limited key.
const dir = t.testdir();
const root = path.join(dir, 'repo');
for (const [name, seed] of [
  ['a', 1],
  ['b', 2],
] as const) {
  mkdirSync(path.join(root, name, '1'), { recursive: true });
  writeModel(path.join(root, name, '1'), 'tiny', seed, 'model.onnx');
}
const KEYS = {
  reader: 'reader-key-0123456789',
  operator: 'operator-key-0123456789',
  adminOnly: 'admin-only-key-0123456789',
  full: 'full-key-0123456789',
  limited: 'limited-key-0123456789',
  slow: 'slow-key-0123456789',
};
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(
  keyFile,
  [
    '# scopes and limits',
    `${KEYS.reader} scopes=infer name=reader`,
    `${KEYS.operator} scopes=infer,admin name=operator`,
    `${KEYS.adminOnly} scopes=admin`,
    `${KEYS.full}   # no scopes: every scope`,
    `${KEYS.limited} scopes=infer rate=10/s burst=20 name=limited`,
    `${KEYS.slow} rate=0.01/s burst=2 name=slow`,
  ].join('\n'),
);
const app = await testApp(t, {
  modelRepository: root,
  modelControl: 'explicit',
  apiKeyFile: keyFile,
  grpcPort: 0,
  host: '127.0.0.1',
});
await app.listen({ port: 0, host: '127.0.0.1' });
const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
const triton = grpcClient(grpcEndpoint(app)!.port, 'triton');
const inference = grpcClient(grpcEndpoint(app)!.port);
t.teardown(() => {
  triton.close();
  inference.close();
});
const png = await image('png');
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const md = (key: string) => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${key}`);
  return m;
};
const classify = (key: string) =>
  fetch(`${url}/classify?model=a&top=1`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', ...bearer(key) },
    body: png,
  });
const post = (key: string, p: string) => fetch(`${url}${p}`, { method: 'POST', headers: bearer(key) });

t.test('an infer key classifies but gets 403 FORBIDDEN on load, unload and index (HTTP and gRPC)', async (t) => {
  t.equal((await classify(KEYS.reader)).status, 200);
  t.equal((await call(inference, 'ModelMetadata', { name: 'a', version: '' }, md(KEYS.reader))).name, 'a');
  for (const p of ['/v2/repository/models/a/unload', '/v2/repository/models/a/load', '/v2/repository/index']) {
    const r = await post(KEYS.reader, p);
    t.equal(r.status, 403, p);
    t.match(await r.json(), {
      statusCode: 403,
      code: 'FORBIDDEN',
      error: /lacks the "admin" scope/,
      message: /lacks the "admin" scope this route needs \(its scopes: infer\)/,
    });
  }
  // The scope follows the route the router matched, however the path is spelled.
  const encoded = await post(KEYS.reader, '/v2/%72epository/models/a/unload');
  t.equal(encoded.status, 403, 'an encoded path is no way around it (the router decodes it to the same route)');
  for (const method of ['RepositoryModelUnload', 'RepositoryModelLoad', 'RepositoryIndex']) {
    const e = await fails(call(triton, method, { model_name: 'a' }, md(KEYS.reader)));
    t.equal(e.code, grpc.status.PERMISSION_DENIED, `gRPC ${method}`);
    t.match(e.details, /lacks the "admin" scope/);
    t.same(e.metadata.get('mixer-code'), ['FORBIDDEN']);
  }
  t.equal((await classify(KEYS.reader)).status, 200, 'model a is still loaded');
});

t.test('an admin key loads and unloads (HTTP and gRPC); a key without infer cannot classify', async (t) => {
  t.equal((await post(KEYS.operator, '/v2/repository/models/b/unload')).status, 200);
  const gone = await fetch(`${url}/classify?model=b`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', ...bearer(KEYS.operator) },
    body: png,
  });
  t.equal(gone.status, 503, 'b is unloaded');
  t.equal((await post(KEYS.operator, '/v2/repository/models/b/load')).status, 200);
  t.same(await call(triton, 'RepositoryModelUnload', { model_name: 'b' }, md(KEYS.adminOnly)), {});
  const idx = await call<{ models: { name: string; state: string }[] }>(
    triton,
    'RepositoryIndex',
    {},
    md(KEYS.operator),
  );
  t.match(
    idx.models.find((m) => m.name === 'b'),
    { state: 'UNAVAILABLE' },
  );
  t.same(await call(triton, 'RepositoryModelLoad', { model_name: 'b' }, md(KEYS.operator)), {});
  const e = await fails(
    call(
      triton,
      'RepositoryModelLoad',
      { model_name: 'b', parameters: { config: { string_param: '{}' } } },
      md(KEYS.operator),
    ),
  );
  t.equal(e.code, grpc.status.INVALID_ARGUMENT, 'load parameters are refused, not ignored');
  const r = await classify(KEYS.adminOnly);
  t.equal(r.status, 403);
  t.match(await r.json(), { code: 'FORBIDDEN', message: /lacks the "infer" scope/ });
  const g = await fails(call(inference, 'ModelMetadata', { name: 'a', version: '' }, md(KEYS.adminOnly)));
  t.equal(g.code, grpc.status.PERMISSION_DENIED);
  // A key listed without scopes keeps every scope.
  t.equal((await post(KEYS.full, '/v2/repository/index')).status, 200);
  t.equal((await classify(KEYS.full)).status, 200);
  t.equal((await fetch(`${url}/v2/health/ready`)).status, 200, 'health stays open');
});

t.test(
  'a key at 10/s burst 20: the allowed number of 200s in a measured window, then 429 with its headers',
  async (t) => {
    const started: number[] = [];
    const ended: number[] = [];
    const answers: Response[] = [];
    const t0 = performance.now();
    while (performance.now() - t0 < 1500) {
      started.push(performance.now());
      const r = await fetch(`${url}/v2/models/a`, { headers: bearer(KEYS.limited) });
      ended.push(performance.now());
      await r.arrayBuffer();
      answers.push(r);
    }
    const ok = answers.filter((r) => r.status === 200).length;
    const last = answers.length - 1;
    // The server takes each request's token somewhere between its start and its end here. Replaying a 10/s burst-20
    // bucket at the starts and at the ends bounds the allowed count, also when a starved client falls below 10/s for a
    // while (the bucket then fills up to its burst and the tokens past it are lost); one more either way for the
    // request that straddles a token's arrival.
    const replay = (times: number[]) => {
      let tokens = 20;
      let at = times[0]!;
      let allowed = 0;
      for (const t of times) {
        tokens = Math.min(20, tokens + ((t - at) * 10) / 1000);
        at = t;
        if (tokens >= 1) {
          tokens -= 1;
          allowed++;
        }
      }
      return allowed;
    };
    const [a, b] = [replay(started), replay(ended)];
    const lo = Math.min(a, b) - 1;
    const hi = Math.max(a, b) + 1;
    t.ok(
      ok >= lo && ok <= hi,
      `${ok} of ${answers.length} allowed in ${(ended[last]! - started[0]!).toFixed(0)} ms: within [${lo}, ${hi}]`,
    );
    t.ok(
      answers.slice(0, 20).every((r) => r.status === 200),
      'the first 20 (the burst) pass',
    );
    t.ok(answers.length - ok >= 10, `${answers.length - ok} refused`);
    t.equal(answers[0]!.headers.get('ratelimit'), '"key";r=19;t=1', 'the first answer: 19 left, full again in 1 s');
    for (const r of answers) {
      t.equal(r.headers.get('ratelimit-policy'), '"key";q=20;w=2');
      if (r.status === 200) continue;
      t.equal(r.status, 429);
      t.equal(r.headers.get('retry-after'), '1');
      t.match(r.headers.get('ratelimit'), /^"key";r=0;t=[12]$/);
    }
    const refused = await fetch(`${url}/v2/models/a`, { headers: bearer(KEYS.limited) });
    if (refused.status === 429)
      t.match(await refused.json(), {
        code: 'RATE_LIMITED',
        error: /rate limit exceeded \(10\/s, burst 20 for this API key\)/,
      });
    // Other keys are not affected, and carry no limit.
    const other = await fetch(`${url}/v2/models/a`, { headers: bearer(KEYS.reader) });
    t.equal(other.status, 200);
    t.equal(other.headers.get('ratelimit'), null);
  },
);

t.test('the limit is shared by HTTP and gRPC, checked before the body, and counted per key id', async (t) => {
  // A key at one request per 100 s: its burst of 2 over HTTP, then gRPC refuses, and a 5 MB body is refused unread.
  for (let i = 0; i < 2; i++) t.equal((await fetch(`${url}/v2/models/a`, { headers: bearer(KEYS.slow) })).status, 200);
  const e = await fails(call(inference, 'ModelMetadata', { name: 'a', version: '' }, md(KEYS.slow)));
  t.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
  t.same(e.metadata.get('mixer-code'), ['RATE_LIMITED']);
  t.match(e.metadata.get('retry-after'), [/^(99|100)$/]);
  const big = await fetch(`${url}/classify?model=a`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', ...bearer(KEYS.slow) },
    body: Buffer.alloc(5 * 1024 * 1024, 1),
  });
  t.equal(big.status, 429, 'a large body is refused by its rate, not read as an image');
  const metrics = await (await fetch(`${url}/metrics`, { headers: bearer(KEYS.full) })).text();
  const limited = /^mixer_rate_limited_total\{key="limited"\} (\d+)$/m.exec(metrics);
  t.ok(limited && Number(limited[1]) >= 12, `mixer_rate_limited_total{key="limited"} ${limited?.[1]}`);
  // 3 HTTP routes, the encoded path and 3 gRPC methods.
  t.match(metrics, /^mixer_forbidden_total\{key="reader",scope="admin"\} 7$/m);
  t.match(metrics, /^mixer_forbidden_total\{key="sha256:[0-9a-f]{8}",scope="infer"\} 2$/m, 'a key without a name');
  for (const k of Object.values(KEYS)) t.notOk(metrics.includes(k), 'no key in the metrics');
});

t.test('keys off, --rate-limit on: one bucket per client address, policy "default"', async (t) => {
  const model = writeModel(t.testdir());
  const open = await testApp(t, { modelPath: model, rateLimit: '1/s:3', grpcPort: 0, host: '127.0.0.1' });
  await open.listen({ port: 0, host: '127.0.0.1' });
  const u = `http://127.0.0.1:${(open.server.address() as { port: number }).port}`;
  const statuses: number[] = [];
  let lastHeaders: Headers | null = null;
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${u}/v2/models/mixer-test`);
    await r.arrayBuffer();
    statuses.push(r.status);
    lastHeaders = r.headers;
  }
  t.same(statuses.slice(0, 3), [200, 200, 200]);
  t.equal(statuses[4], 429);
  t.equal(lastHeaders!.get('ratelimit-policy'), '"default";q=3;w=3');
  t.equal((await fetch(`${u}/healthz`)).status, 200, 'probes are not limited');
  const c = grpcClient(grpcEndpoint(open)!.port);
  t.teardown(() => c.close());
  const e = await fails(call(c, 'ModelMetadata', { name: 'mixer-test', version: '' }));
  t.equal(e.code, grpc.status.RESOURCE_EXHAUSTED, 'gRPC from the same address shares the bucket');
  t.match(
    await (await open.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.0.0.9' })).body,
    /^mixer_rate_limited_total\{key="anonymous"\} [1-9]/m,
    'another address is not limited, and addresses are not labels',
  );
});

t.test('while the service is full, a caller over its rate is not parked: its 429 comes at once', async (t) => {
  // One image in flight at a time, held 1.5 s by its batch delay; one request per 100 s per address, burst 1.
  const full = await testApp(t, {
    modelPath: writeModel(t.testdir()),
    maxQueue: 1,
    batchDelayMs: 1500,
    rateLimit: '0.01/s:1',
  });
  await full.listen({ port: 0, host: '127.0.0.1' });
  const u = `http://127.0.0.1:${(full.server.address() as { port: number }).port}`;
  const { admission } = full.mixer;
  const send = () =>
    fetch(`${u}/classify?top=1`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
  let firstDone = false;
  const first = send().then((r) => {
    firstDone = true;
    return r;
  });
  await until(() => admission.full, 5000, 'the first request to be admitted', 5);
  const second = await send();
  t.equal(second.status, 429);
  t.notOk(firstDone, 'answered while the first request still fills the service (not parked until it frees)');
  t.equal(admission.parked, 0);
  t.equal(second.headers.get('retry-after'), '100');
  t.equal((await first).status, 200);
});
