// The response cache: a repeated request is a hit (metrics, statistics, the same bytes) over /classify, v2 HTTP and gRPC; what changes the answer misses; the budget holds; a swap invalidates.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, grpcClient } from '../fixtures/grpc.js';
import { image, noise, testApp, writeModel } from '../fixtures/server.js';

/** DIR/<version>/model.onnx through a rename (a replacement of the same version swaps it in whole). */
function putVersion(dir: string, version: number, seed: number): void {
  const staging = path.join(dir, `.staging-${version}`);
  mkdirSync(staging, { recursive: true });
  writeModel(staging, 'tiny', seed, 'model.onnx');
  rmSync(path.join(dir, String(version)), { recursive: true, force: true });
  renameSync(staging, path.join(dir, String(version)));
}

const root = path.join(t.testdir(), 'repo');
putVersion(path.join(root, 'm'), 1, 1);
putVersion(path.join(root, 'm'), 2, 2);
writeFileSync(path.join(root, 'm', 'config.json'), JSON.stringify({ response_cache: { enable: true } }));
putVersion(path.join(root, 'plain'), 1, 3);
const BUDGET = 256 * 1024;
const app = await testApp(t, {
  modelRepository: root,
  modelControl: 'explicit',
  cacheBytes: BUDGET,
  maxBatch: 4,
  grpcPort: 0,
  host: '127.0.0.1',
});

/** The value of one series of /metrics (0 when absent). */
async function metric(name: string, labels: string): Promise<number> {
  const text = (await app.inject('/metrics')).payload;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function cacheStats(model: string, version: number) {
  const r = await app.inject(`/v2/models/${model}/versions/${version}/stats`);
  const s = r.json().model_stats[0].inference_stats;
  return { hit: s.cache_hit.count as number, miss: s.cache_miss.count as number, success: s.success.count as number };
}

const png = await image('png', 32, 32, noise(32, 32, 11));
const classify = (query: string, body = png, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: `/classify?${query}`,
    headers: { 'content-type': 'image/png', ...headers },
    payload: body,
  });

t.test(
  '/classify: the second identical request is a hit with the same bytes; top, version and image miss',
  async (t) => {
    const before = await cacheStats('m', 2);
    const a = await classify('model=m&top=3');
    const b = await classify('model=m&top=3');
    t.equal(a.statusCode, 200);
    t.equal(b.statusCode, 200);
    t.equal(b.payload, a.payload, 'byte-identical answer');
    t.equal(b.headers['x-model-version'], '2');
    const after = await cacheStats('m', 2);
    t.equal(after.miss - before.miss, 1, 'one miss');
    t.equal(after.hit - before.hit, 1, 'one hit');
    t.equal(after.success - before.success, 2, 'both succeeded (hits count as successes, as in Triton)');
    t.equal(await metric('mixer_cache_hits_total', 'model="m",version="2"'), after.hit);
    t.equal(await metric('mixer_cache_misses_total', 'model="m",version="2"'), after.miss);

    const top5 = await classify('model=m&top=5');
    t.equal(top5.json().results[0].predictions.length, 5);
    const v1 = await classify('model=m&top=3&version=1');
    t.equal(v1.json().model.version, '1');
    const other = await classify('model=m&top=3', await image('png', 32, 32, noise(32, 32, 12)));
    t.not(other.payload, a.payload);
    const end = await cacheStats('m', 2);
    t.equal(end.hit, after.hit, 'a different top or image is no hit');
    t.equal(end.miss, after.miss + 2);
    t.same(await cacheStats('m', 1), { hit: 0, miss: 1, success: 1 }, 'another version is its own miss');

    // A model without "response_cache" is never cached.
    await classify('model=plain');
    await classify('model=plain');
    t.same(await cacheStats('plain', 1), { hit: 0, miss: 0, success: 2 });
  },
);

t.test(
  'v2 HTTP: JSON and binary answers repeat byte for byte; the id is the caller’s; outputs and binary_data miss',
  async (t) => {
    const px = noise(32, 32, 21);
    const header = (extra: object = {}) =>
      Buffer.from(
        JSON.stringify({
          inputs: [
            { name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], parameters: { binary_data_size: 3072 } },
          ],
          ...extra,
        }),
      );
    const binary = (extra: object = {}) => {
      const h = header(extra);
      return app.inject({
        method: 'POST',
        url: '/v2/models/m/infer',
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(h.length) },
        payload: Buffer.concat([h, px]),
      });
    };
    const before = await cacheStats('m', 2);
    const outputs = [{ name: 'probabilities', parameters: { binary_data: true } }];
    const a = await binary({ outputs });
    const b = await binary({ outputs });
    t.equal(a.statusCode, 200, a.payload.slice(0, 200));
    t.same(b.rawPayload, a.rawPayload, 'binary answer byte-identical');
    const json = await binary();
    const json2 = await binary();
    t.equal(json2.payload, json.payload, 'JSON answer byte-identical');
    t.not(json.payload, a.payload);
    const mid = await cacheStats('m', 2);
    t.equal(mid.hit - before.hit, 2);
    t.equal(mid.miss - before.miss, 2, 'binary_data and JSON outputs are different answers');
    const withId = await binary({ id: 'req-7' });
    t.equal(withId.json().id, 'req-7', 'a hit carries the caller’s id');
    t.same({ ...withId.json(), id: undefined }, { ...json.json(), id: undefined });
    const noId = await binary();
    t.equal(noId.payload, json.payload, 'and none when the caller sent none');
    t.equal((await cacheStats('m', 2)).hit - mid.hit, 2);
    const top = await binary({ outputs: [{ name: 'probabilities', parameters: { classification: 2 } }] });
    t.equal(top.statusCode, 200);
    t.equal((await cacheStats('m', 2)).miss - mid.miss, 1, 'a classification count is another answer');
    // A failed request is a miss and is not kept: the same request fails again.
    const bad = () =>
      app.inject({
        method: 'POST',
        url: '/v2/models/m/infer',
        payload: { inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], data: [1, 2, 3] }] },
      });
    const s0 = await cacheStats('m', 2);
    t.equal((await bad()).statusCode, 400);
    t.equal((await bad()).statusCode, 400);
    const s1 = await cacheStats('m', 2);
    t.equal(s1.hit, s0.hit, 'no hit for a failure');
    t.equal(s1.miss - s0.miss, 2);
  },
);

t.test('gRPC ModelInfer: a hit, the same answer, counted in ModelStatistics', async (t) => {
  const ep = grpcEndpoint(app)!;
  const client = grpcClient(ep.port);
  const triton = grpcClient(ep.port, 'triton');
  t.teardown(() => {
    client.close();
    triton.close();
  });
  const req = {
    model_name: 'm',
    model_version: '1',
    inputs: [{ name: 'pixels', datatype: 'UINT8', shape: ['1', '32', '32', '3'] }],
    raw_input_contents: [noise(32, 32, 31)],
  };
  const stats = async () =>
    (
      (await call(triton, 'ModelStatistics', { name: 'm', version: '1' })) as {
        model_stats: { inference_stats: { cache_hit: { count: string }; cache_miss: { count: string } } }[];
      }
    ).model_stats[0]!.inference_stats;
  const s0 = await stats();
  const a = await call<{ raw_output_contents: Buffer[] }>(client, 'ModelInfer', req);
  const b = await call<{ raw_output_contents: Buffer[] }>(client, 'ModelInfer', req);
  t.same(b, a, 'the same answer');
  const s1 = await stats();
  t.equal(Number(s1.cache_hit.count) - Number(s0.cache_hit.count), 1);
  t.equal(Number(s1.cache_miss.count) - Number(s0.cache_miss.count), 1);
});

t.test('a replaced version drops its answers; an unload drops the rest', async (t) => {
  await classify('model=m&top=2');
  const first = await classify('model=m&top=2');
  const hits = (await cacheStats('m', 2)).hit;
  t.ok((await metric('mixer_cache_entries', 'model="m",version="2"')) > 0);
  putVersion(path.join(root, 'm'), 2, 9);
  const load = await app.inject({ method: 'POST', url: '/v2/repository/models/m/load' });
  t.equal(load.statusCode, 200);
  const after = await classify('model=m&top=2');
  t.equal((await cacheStats('m', 2)).hit, hits, 'the new version 2 misses');
  t.not(after.json().model.sha256, first.json().model.sha256, 'and answers from the new file');
  t.not(after.payload, first.payload);
  t.ok((await metric('mixer_cache_entries', 'model="m",version="2"')) <= 1, 'the old answers are gone');
  const unload = await app.inject({ method: 'POST', url: '/v2/repository/models/m/unload' });
  t.equal(unload.statusCode, 200);
  t.equal(app.mixer.cache.size, 0, 'nothing is left of an unloaded model');
  t.equal(app.mixer.cache.bytes, 0);
  await app.inject({ method: 'POST', url: '/v2/repository/models/m/load' });
});

t.test('10,000 distinct inputs keep the cache within its budget, least recently used evicted first', async (t) => {
  const m = app.mixer.repo.acquire('m', '1');
  t.teardown(() => m.release());
  const cache = app.mixer.cache;
  let peak = 0;
  let computed = 0;
  const answer = Buffer.alloc(1000, 7);
  for (let i = 0; i < 10_000; i++) {
    await cache.answer(
      m,
      ['budget', i],
      async () => {
        computed++;
        return answer;
      },
      (v) => v.length,
    );
    peak = Math.max(peak, cache.bytes);
  }
  t.equal(computed, 10_000, 'every distinct input is a miss');
  t.ok(peak <= BUDGET, `peak ${peak} ≤ budget ${BUDGET}`);
  t.ok(cache.size > 100, `the cache is used (${cache.size} entries)`);
  const hit = await cache.answer(
    m,
    ['budget', 9_999],
    async () => Buffer.alloc(0),
    (v) => v.length,
  );
  t.ok(hit.hit, 'the most recent input is still there');
  const gone = await cache.answer(
    m,
    ['budget', 0],
    async () => Buffer.alloc(0),
    (v) => v.length,
  );
  t.notOk(gone.hit, 'the oldest was evicted');
  const text = (await app.inject('/metrics')).payload;
  const evicted = Number(/^mixer_cache_evictions_total (\d+)/m.exec(text)?.[1]);
  t.ok(evicted >= 10_000 - cache.size - 10, `evictions counted (${evicted})`);
  const held = text
    .split('\n')
    .filter((l) => l.startsWith('mixer_cache_bytes{'))
    .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
  t.equal(held, cache.bytes, 'mixer_cache_bytes sums to what is held');
  t.ok(held <= BUDGET);
});

t.test('an answer larger than the budget is served and not kept', async (t) => {
  const m = app.mixer.repo.acquire('m', '1');
  t.teardown(() => m.release());
  const big = await app.mixer.cache.answer(
    m,
    ['big'],
    async () => Buffer.alloc(BUDGET + 1),
    (v) => v.length,
  );
  t.equal(big.value.length, BUDGET + 1);
  t.ok(app.mixer.cache.bytes <= BUDGET);
  t.notOk(
    (
      await app.mixer.cache.answer(
        m,
        ['big'],
        async () => Buffer.alloc(1),
        (v) => v.length,
      )
    ).hit,
  );
});
