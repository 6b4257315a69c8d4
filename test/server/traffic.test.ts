// Traffic splits: 2,000 requests at 90/10 land within ±3 points; a routing key sticks (HTTP and gRPC); weights change by API and config.json under load with no failed request.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { validateConfigFile } from '../../src/server/repository/config-file.js';
import { keyPoint, pickVersion } from '../../src/server/traffic/split.js';
import { call, grpcClient } from '../fixtures/grpc.js';
import { image, noise, testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

function addVersion(dir: string, version: number, seed: number): void {
  const staging = path.join(dir, `.staging-${version}`);
  mkdirSync(staging, { recursive: true });
  writeModel(staging, 'tiny', seed, 'model.onnx');
  renameSync(staging, path.join(dir, String(version)));
}

const root = path.join(t.testdir(), 'repo');
const dir = path.join(root, 'm');
addVersion(dir, 1, 1);
addVersion(dir, 2, 2);
const configFile = path.join(dir, 'config.json');
writeFileSync(configFile, JSON.stringify({ traffic: { '1': 90, '2': 10 } }));
const app = await testApp(t, {
  modelRepository: root,
  modelControl: 'poll',
  pollIntervalMs: 100,
  maxBatch: 8,
  grpcPort: 0,
  host: '127.0.0.1',
});
await app.listen({ port: 0, host: '127.0.0.1' });
const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
const png = await image('png', 32, 32, noise(32, 32, 5));

/** One /classify over the socket: the body's version, checked against the X-Model-Version header. */
async function classify(key?: string): Promise<string> {
  const r = await fetch(`${url}/classify?model=m`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', ...(key === undefined ? {} : { 'x-routing-key': key }) },
    body: png,
  });
  const j = (await r.json()) as { model?: { version: string }; message?: string };
  if (r.status !== 200) throw new Error(`${r.status} ${j.message}`);
  if (r.headers.get('x-model-version') !== j.model!.version)
    throw new Error(`X-Model-Version ${r.headers.get('x-model-version')} but the body says ${j.model!.version}`);
  return j.model!.version;
}

/** `n` requests, `width` at a time: the count per version. */
async function spread(n: number, width: number, key?: (i: number) => string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        const v = await classify(key?.(i));
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
    }),
  );
  return counts;
}

const setTraffic = (traffic: unknown) =>
  app.inject({ method: 'POST', url: '/v2/repository/models/m/traffic', payload: { traffic } });

t.test('2,000 requests at 90/10 land within ±3 points; X-Model-Version names the version', async (t) => {
  const counts = await spread(2000, 16);
  const share2 = (counts.get('2') ?? 0) / 2000;
  t.equal((counts.get('1') ?? 0) + (counts.get('2') ?? 0), 2000);
  t.ok(Math.abs(share2 - 0.1) <= 0.03, `version 2 got ${(share2 * 100).toFixed(1)}% (10 ± 3)`);
  const text = (await app.inject('/metrics')).payload;
  for (const v of ['1', '2'])
    t.match(
      text,
      new RegExp(`mixer_inference_request_duration_seconds_count\\{model="m",version="${v}"\\} \\d+`),
      `per-version latency for version ${v}`,
    );
});

t.test('a routing key sticks to one version; keys spread by the weights', async (t) => {
  // Two keys that land on version 1 and one that lands on version 2 (found from the hash, not hard-coded).
  const toV2 = Array.from({ length: 200 }, (_, i) => `user-${i}`).find((k) => keyPoint(k) >= 0.9)!;
  for (const key of ['alice', 'bob', toV2]) {
    const counts = await spread(20, 4, () => key);
    t.equal(counts.size, 1, `${key} always lands on one version`);
    const expected = pickVersion({ '1': 90, '2': 10 }, [1, 2], key);
    t.same(
      [...counts.keys()],
      [String(expected)],
      `${key} → version ${expected} (its hash point ${keyPoint(key).toFixed(3)})`,
    );
  }
  const counts = await spread(400, 8, (i) => `user-${i}`);
  const share2 = (counts.get('2') ?? 0) / 400;
  t.ok(share2 > 0.03 && share2 < 0.2, `400 keys: version 2 got ${(share2 * 100).toFixed(1)}%`);
  // A request naming a version ignores the split.
  const r = await fetch(`${url}/classify?model=m&version=2`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', 'x-routing-key': 'alice' },
    body: png,
  });
  t.equal(r.headers.get('x-model-version'), '2');
});

t.test('gRPC: x-routing-key metadata sticks and model_version names the version', async (t) => {
  const client = grpcClient(grpcEndpoint(app)!.port);
  t.teardown(() => client.close());
  const req = {
    model_name: 'm',
    inputs: [{ name: 'pixels', datatype: 'UINT8', shape: ['1', '32', '32', '3'] }],
    raw_input_contents: [noise(32, 32, 3)],
  };
  for (const key of ['alice', 'dave']) {
    const md = new grpc.Metadata();
    md.set('x-routing-key', key);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++)
      seen.add((await call<{ model_version: string }>(client, 'ModelInfer', req, md)).model_version);
    t.same([...seen], [String(pickVersion({ '1': 90, '2': 10 }, [1, 2], key))], `${key} sticks over gRPC`);
  }
});

t.test('the traffic API: GET shows weights and shares; POST validates', async (t) => {
  const get = await app.inject('/v2/repository/models/m/traffic');
  t.equal(get.statusCode, 200);
  t.same(get.json(), { name: 'm', traffic: { '1': 90, '2': 10 }, shares: { '1': 0.9, '2': 0.1 } });
  for (const [body, re] of [
    [{ '3': 1 }, /version 3 of "m", which is not loaded; the loaded versions are: 1, 2/],
    [{ '1': -1 }, /BAD_REQUEST|must be >= 0/],
    [{ '1': 0, '2': 0 }, /every version the weight 0/],
    [{ x: 1 }, /has the key "x"/],
    [{}, /empty/],
  ] as const) {
    const r = await setTraffic(body);
    t.equal(r.statusCode, 400, JSON.stringify(body));
    t.match(r.json().message, re);
  }
  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/m/traffic', payload: {} })).statusCode, 400);
  t.equal((await app.inject('/v2/repository/models/nope/traffic')).statusCode, 404);
  t.same(
    (await app.inject('/v2/repository/models/m/traffic')).json().traffic,
    { '1': 90, '2': 10 },
    'a refused change changes nothing',
  );
  const only2 = await setTraffic({ '2': 1 });
  t.same(only2.json(), { name: 'm', traffic: { '2': 1 }, shares: { '2': 1 } });
  t.same([...(await spread(20, 4)).keys()], ['2']);
  const cleared = await setTraffic(null);
  t.same(cleared.json(), { name: 'm', traffic: null, shares: { '2': 1 } }, 'null: the latest version');
  await setTraffic({ '1': 90, '2': 10 });
});

t.test('changing the weights under load fails no request', async (t) => {
  let stop = false;
  const failures: string[] = [];
  const seen = new Map<string, number>();
  const clients = Array.from({ length: 6 }, async () => {
    while (!stop) {
      try {
        const v = await classify();
        seen.set(v, (seen.get(v) ?? 0) + 1);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  });
  const weights = [{ '1': 1 }, { '2': 1 }, { '1': 50, '2': 50 }, { '1': 0, '2': 3 }, null];
  for (let round = 0; round < 20; round++) {
    const r = await setTraffic(weights[round % weights.length]);
    t.equal(r.statusCode, 200);
    const before = [...seen.values()].reduce((a, b) => a + b, 0);
    await until(
      () => [...seen.values()].reduce((a, b) => a + b, 0) >= before + 5,
      30_000,
      'requests under the new weights',
    );
  }
  stop = true;
  await Promise.all(clients);
  t.same(failures, [], 'no request failed');
  t.ok((seen.get('1') ?? 0) > 0 && (seen.get('2') ?? 0) > 0, `both versions served (${JSON.stringify([...seen])})`);
  await setTraffic({ '1': 90, '2': 10 });
});

t.test(
  'config.json: new weights apply on the next poll without reloading; a version not READY gets none',
  async (t) => {
    const sha = (v: number) => app.mixer.repo.versions('m')!.find((x) => x.version === v)?.instance?.sha256;
    const loaded = app.mixer.repo.versions('m')!.map((v) => v.instance);
    writeFileSync(configFile, JSON.stringify({ traffic: { '1': 0, '2': 5 } }));
    await until(
      async () => (await app.inject('/v2/repository/models/m/traffic')).json().traffic?.['2'] === 5,
      30_000,
      'the poll to read the new weights',
      50,
    );
    t.same([...(await spread(20, 4)).keys()], ['2']);
    const now = app.mixer.repo.versions('m')!.map((v) => v.instance);
    t.ok(
      now.length === loaded.length && now.every((x, k) => x !== null && x === loaded[k]),
      'the same instances serve (no reload)',
    );
    // Version 3 is named but absent: its weight goes nowhere, the rest is renormalised.
    writeFileSync(configFile, JSON.stringify({ traffic: { '1': 1, '3': 99 } }));
    await until(
      async () => (await app.inject('/v2/repository/models/m/traffic')).json().traffic?.['3'] === 99,
      30_000,
      'the poll to read the weights naming version 3',
      50,
    );
    t.same((await app.inject('/v2/repository/models/m/traffic')).json().shares, { '1': 1 });
    t.same([...(await spread(20, 4)).keys()], ['1']);
    t.ok(sha(1) && sha(2));
  },
);

t.test('config.json: "traffic" and "response_cache" are validated with one-line errors', async (t) => {
  const ok = validateConfigFile({ traffic: { '1': 90, '2': 10.5 }, response_cache: { enable: true } }, 'c.json');
  t.same(ok.traffic, { '1': 90, '2': 10.5 });
  for (const [raw, re] of [
    [{ traffic: [1, 2] }, /c.json: "traffic" must be an object of version → weight/],
    [{ traffic: { '01': 1 } }, /"traffic" has the key "01": a version is a positive integer/],
    [{ traffic: { '1': 'x' } }, /gives version 1 the weight "x"; a weight is a finite number ≥ 0/],
    [{ traffic: { '1': 0 } }, /at least one weight must be above 0/],
    [{ response_cache: true }, /"response_cache" must be \{"enable": true\}/],
    [{ response_cache: { enable: 'yes' } }, /"response_cache" must be/],
    [{ response_cache: { enable: true, size: 1 } }, /"response_cache" must be/],
  ] as const)
    t.throws(() => validateConfigFile(raw, 'c.json'), re, JSON.stringify(raw));
});
