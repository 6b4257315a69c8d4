// Per-stage latency histograms and batch fill in /metrics after real REST /classify, REST v2 (JSON, binary) and gRPC requests: counts, labels, sums, cache hits, unknown models.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { STAGES } from '../../src/server/metrics.js';
import { call, fails, grpcClient } from '../fixtures/grpc.js';
import { listenLocal } from '../fixtures/listen.js';
import { image, multipart, noise, testApp, writeModel } from '../fixtures/server.js';

const root = t.testdir();
for (const name of ['plain', 'cached']) {
  mkdirSync(path.join(root, name, '1'), { recursive: true });
  writeModel(path.join(root, name, '1'), 'tiny', 1, 'model.onnx');
}
writeFileSync(path.join(root, 'cached', 'config.json'), JSON.stringify({ response_cache: { enable: true } }));
const MAX_BATCH = 4;
const app = await testApp(t, {
  modelRepository: root,
  cacheBytes: 1 << 20,
  maxBatch: MAX_BATCH,
  // Long enough for concurrent requests to share a batch, short enough not to slow the test.
  batchDelayMs: 20,
  grpcPort: 0,
  host: '127.0.0.1',
});
const { url } = await listenLocal(app);
const client = grpcClient(grpcEndpoint(app)!.port);
t.teardown(() => client.close());

/** Every sample of a scrape, by name and its label set as written (`model="plain",version="1"`). */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m) samples.set(`${m[1]}{${m[2] ?? ''}}`, Number(m[3]));
  }
  return samples;
}

const get = (s: Map<string, number>, name: string, labels: string): number => s.get(`${name}{${labels}}`) ?? 0;
const stage = (model: string, st: string) => `model="${model}",version="1",stage="${st}"`;
const PARTS = ['admission_wait', 'decode', 'queue_wait', 'inference', 'encode'] as const;

/** What one request of `model` added to each stage's count and sum, between two scrapes. */
function grown(before: Map<string, number>, after: Map<string, number>, model: string) {
  const d = (name: string, labels: string) => get(after, name, labels) - get(before, name, labels);
  return Object.fromEntries(
    STAGES.map((st) => [
      st,
      {
        count: d('mixer_stage_duration_seconds_count', stage(model, st)),
        sum: d('mixer_stage_duration_seconds_sum', stage(model, st)),
      },
    ]),
  ) as Record<(typeof STAGES)[number], { count: number; sum: number }>;
}

/** One request that ran the model: every stage counted once, busy stages positive, the parts within the total. */
function ranOnce(t: Test, g: ReturnType<typeof grown>, what: string): void {
  for (const st of [...PARTS, 'total'] as const) t.equal(g[st].count, 1, `${what}: ${st} counted once`);
  t.equal(g.cache_hit.count, 0, `${what}: no cache hit`);
  for (const st of ['decode', 'inference', 'encode', 'total'] as const) t.ok(g[st].sum > 0, `${what}: ${st} > 0`);
  t.equal(g.admission_wait.sum, 0, `${what}: never parked, so no admission wait`);
  t.ok(g.queue_wait.sum >= 0, `${what}: queue wait ≥ 0`);
  const parts = PARTS.reduce((s, st) => s + g[st].sum, 0);
  t.ok(g.total.sum >= parts, `${what}: total ${g.total.sum} ≥ the parts ${parts}`);
  t.ok(g.total.sum < 60, `${what}: total is seconds, not milliseconds`);
}

const pixels = (n: number, seed: number) => new Uint8Array(noise(32, 32 * n, seed));
const v2Json = (model: string, n: number, seed: number) =>
  fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [{ name: 'pixels', shape: [n, 32, 32, 3], datatype: 'UINT8', data: Array.from(pixels(n, seed)) }],
    }),
  });

t.test('REST /classify: every stage once, labelled by model and version; batch fill counts the batch', async (t) => {
  const before = await scrape();
  const body = multipart([
    { filename: 'a.png', type: 'image/png', data: await image('png') },
    { filename: 'b.png', type: 'image/png', data: await image('png', 32, 32, noise(32, 32, 5)) },
  ]);
  const r = await fetch(`${url}/classify?model=plain`, { method: 'POST', headers: body.headers, body: body.payload });
  t.equal(r.status, 200);
  const after = await scrape();
  ranOnce(t, grown(before, after, 'plain'), '/classify');
  const labels = 'model="plain",version="1"';
  t.equal(
    get(after, 'mixer_batch_fill_ratio_count', labels) - get(before, 'mixer_batch_fill_ratio_count', labels),
    1,
    'one batch',
  );
  t.equal(
    get(after, 'mixer_batch_fill_ratio_sum', labels) - get(before, 'mixer_batch_fill_ratio_sum', labels),
    2 / MAX_BATCH,
    'two images in a batch of at most four',
  );
  t.equal(get(after, 'mixer_batch_fill_ratio_bucket', `le="0.5",${labels}`), 1, 'in the 0.5 bucket');
  t.equal(get(after, 'mixer_batch_fill_ratio_bucket', `le="0.4",${labels}`), 0);
});

t.test('REST v2 JSON and binary, and gRPC ModelInfer: each counts every stage once', async (t) => {
  let before = await scrape();
  t.equal((await v2Json('plain', 2, 11)).status, 200);
  let after = await scrape();
  ranOnce(t, grown(before, after, 'plain'), 'v2 JSON');

  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', parameters: { binary_data_size: 3072 } }],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    }),
  );
  before = after;
  const bin = await fetch(`${url}/v2/models/plain/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([header, pixels(1, 12)]),
  });
  t.equal(bin.status, 200);
  after = await scrape();
  ranOnce(t, grown(before, after, 'plain'), 'v2 binary');

  before = after;
  await call(client, 'ModelInfer', {
    model_name: 'plain',
    model_version: '',
    inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
    raw_input_contents: [Buffer.from(pixels(1, 13))],
  });
  after = await scrape();
  ranOnce(t, grown(before, after, 'plain'), 'gRPC');
});

t.test('concurrent requests: the inference shares of a batch add up to its run; fill counts batches', async (t) => {
  const before = await scrape();
  const labels = 'model="plain",version="1"';
  const rs = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => v2Json('plain', 1, 20 + i)));
  t.same(
    rs.map((r) => r.status),
    [200, 200, 200, 200, 200, 200],
  );
  const after = await scrape();
  const g = grown(before, after, 'plain');
  t.equal(g.total.count, 6);
  t.equal(g.inference.count, 6);
  const d = (name: string) => get(after, name, labels) - get(before, name, labels);
  const batches = d('mixer_batch_size_count');
  t.ok(batches >= 2 && batches <= 6, `six single-image requests in batches of at most four: ${batches}`);
  t.equal(d('mixer_batch_fill_ratio_count'), batches, 'one fill observation per batch');
  t.ok(Math.abs(d('mixer_batch_fill_ratio_sum') - 6 / MAX_BATCH) < 1e-9, 'fill sums to images / max batch');
  const runs = d('mixer_inference_duration_seconds_sum');
  t.ok(Math.abs(g.inference.sum - runs) < 1e-6, `shares ${g.inference.sum} add up to the batch runs ${runs}`);
});

t.test('cache hits count once as cache_hit, not as total or parts', async (t) => {
  const first = await scrape();
  t.equal((await v2Json('cached', 1, 40)).status, 200);
  const miss = await scrape();
  ranOnce(t, grown(first, miss, 'cached'), 'a miss');
  t.equal((await v2Json('cached', 1, 40)).status, 200);
  const hit = await scrape();
  const g = grown(miss, hit, 'cached');
  t.equal(g.cache_hit.count, 1, 'one cache hit');
  t.ok(g.cache_hit.sum > 0);
  for (const st of [...PARTS, 'total'] as const) t.equal(g[st].count, 0, `a hit adds nothing to ${st}`);
  t.equal(get(hit, 'mixer_cache_hits_total', 'model="cached",version="1"'), 1);
});

t.test('requests for unknown models or versions create no series', async (t) => {
  const png = await image('png');
  t.equal(
    (await fetch(`${url}/classify?model=nope`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png }))
      .status,
    404,
  );
  t.equal((await v2Json('nope', 1, 1)).status, 404);
  const v7 = await fetch(`${url}/v2/models/plain/versions/7/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', data: [] }] }),
  });
  t.equal(v7.status, 404, await v7.text());
  const e = await fails(
    call(client, 'ModelInfer', {
      model_name: 'nope-grpc',
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
      raw_input_contents: [Buffer.from(pixels(1, 1))],
    }),
  );
  t.equal(e.code, grpc.status.NOT_FOUND);
  const text = await (await fetch(`${url}/metrics`)).text();
  t.notMatch(text, /model="nope/, 'no series for a name the client made up');
  t.notMatch(text, /version="7"/, 'nor for a version that does not exist');
  const models = new Set([...text.matchAll(/^mixer_stage_duration_seconds_count\{model="([^"]+)"/gm)].map((m) => m[1]));
  t.same([...models].sort(), ['cached', 'plain'], 'stage series only for the repository models');
});
