// gRPC inference.GRPCInferenceService and grpc.health.v1 through a real client on a real port, checked against HTTP v2 on the same inputs; errors, API keys, overload and draining shutdown.
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { GrpcEndpoint, grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, fails, grpcClient } from '../fixtures/grpc.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const modelPath = writeModel(t.testdir());
const app = await testApp(t, { modelPath, maxBatch: 4, grpcPort: 0, host: '127.0.0.1' });
await app.listen({ port: 0, host: '127.0.0.1' });
const ep = grpcEndpoint(app)!;
const client = grpcClient(ep.port);
t.teardown(() => client.close());

const base = '/v2/models/mixer-test';
const n = 3;
const pixels = new Uint8Array(noise(32, 32 * n, 9));
const httpInfer = async (outputs?: object[]) =>
  (
    await app.inject({
      method: 'POST',
      url: `${base}/infer`,
      payload: {
        inputs: [{ name: 'pixels', shape: [n, 32, 32, 3], datatype: 'UINT8', data: Array.from(pixels) }],
        ...(outputs ? { outputs } : {}),
      },
    })
  ).json();
const f32 = (b: Buffer): number[] =>
  Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
const near = (t: Test, a: number[], b: number[], msg: string) => {
  t.equal(a.length, b.length, `${msg}: length`);
  t.ok(
    a.every((v, i) => Math.abs(v - b[i]!) < 1e-5),
    `${msg}: values`,
  );
};

t.test('health and metadata RPCs agree with HTTP', async (t) => {
  t.same(await call(client, 'ServerLive', {}), { live: true });
  t.same(await call(client, 'ServerReady', {}), { ready: true });
  t.same(await call(client, 'ModelReady', { name: 'mixer-test', version: '' }), { ready: true });
  t.same(await call(client, 'ModelReady', { name: 'mixer-test', version: '1' }), { ready: true });
  const sm = await call(client, 'ServerMetadata', {});
  const http = (await app.inject('/v2')).json();
  t.same([sm['name'], sm['version']], [http.name, http.version]);
  t.same(sm['extensions'], [
    'classification',
    'model_configuration',
    'model_repository',
    'statistics',
    'logging',
    'trace',
  ]);
  const mm = await call<{ shape?: unknown; inputs: { shape: string[] }[]; outputs: { shape: string[] }[] }>(
    client,
    'ModelMetadata',
    { name: 'mixer-test', version: '' },
  );
  const hm = (await app.inject(base)).json();
  const numeric = (x: { inputs: { shape: string[] }[]; outputs: { shape: string[] }[] }) => ({
    ...x,
    inputs: x.inputs.map((i) => ({ ...i, shape: i.shape.map(Number) })),
    outputs: x.outputs.map((i) => ({ ...i, shape: i.shape.map(Number) })),
  });
  t.same(numeric(mm), hm);
  const health = grpcClient(ep.port, 'health');
  t.teardown(() => health.close());
  t.same(await call(health, 'Check', { service: '' }), { status: 'SERVING' });
  t.same(await call(health, 'Check', { service: 'inference.GRPCInferenceService' }), { status: 'SERVING' });
  t.equal((await fails(call(health, 'Check', { service: 'nope' }))).code, grpc.status.NOT_FOUND);
  const first = await new Promise((resolve, reject) => {
    const s = (health as unknown as { Watch: (r: object) => grpc.ClientReadableStream<unknown> }).Watch({
      service: '',
    });
    s.on('data', (d) => {
      resolve(d);
      s.cancel();
    });
    s.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
  });
  t.same(first, { status: 'SERVING' });
});

t.test(
  'ModelInfer with raw_input_contents equals HTTP infer; id echoed; requested outputs and classification',
  async (t) => {
    const req = {
      model_name: 'mixer-test',
      model_version: '',
      id: 'g-1',
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [n, 32, 32, 3] }],
      raw_input_contents: [Buffer.from(pixels)],
    };
    const r = await call<{
      id: string;
      model_version: string;
      outputs: { name: string; datatype: string; shape: string[] }[];
      raw_output_contents: Buffer[];
    }>(client, 'ModelInfer', req);
    t.equal(r.id, 'g-1');
    t.equal(r.model_version, '1');
    t.same(
      r.outputs.map((o) => [o.name, o.datatype, o.shape.map(Number)]),
      [
        ['logits', 'FP32', [n, 10]],
        ['probabilities', 'FP32', [n, 10]],
      ],
    );
    const h = await httpInfer();
    near(t, f32(r.raw_output_contents[0]!), h.outputs[0].data, 'logits');
    near(t, f32(r.raw_output_contents[1]!), h.outputs[1].data, 'probabilities');
    // Typed contents give the same answer.
    const typed = await call<{ raw_output_contents: Buffer[] }>(client, 'ModelInfer', {
      model_name: 'mixer-test',
      model_version: '1',
      inputs: [
        { name: 'pixels', datatype: 'UINT8', shape: [n, 32, 32, 3], contents: { uint_contents: Array.from(pixels) } },
      ],
    });
    near(t, f32(typed.raw_output_contents[1]!), h.outputs[1].data, 'typed contents');
    // One requested output, as top-2 classification (InferParameter int64_param).
    const cls = await call<{
      outputs: { name: string; datatype: string; shape: string[] }[];
      raw_output_contents: Buffer[];
    }>(client, 'ModelInfer', {
      ...req,
      outputs: [{ name: 'probabilities', parameters: { classification: { int64_param: 2 } } }],
    });
    t.same(
      cls.outputs.map((o) => [o.name, o.datatype, o.shape.map(Number)]),
      [['probabilities', 'BYTES', [n, 2]]],
    );
    const strings: string[] = [];
    const b = cls.raw_output_contents[0]!;
    for (let i = 0; i < b.length; ) {
      const len = b.readUInt32LE(i);
      strings.push(b.subarray(i + 4, i + 4 + len).toString());
      i += 4 + len;
    }
    t.same(strings, (await httpInfer([{ name: 'probabilities', parameters: { classification: 2 } }])).outputs[0].data);
  },
);

t.test("Triton's ModelStatistics and RepositoryIndex on the same service agree with HTTP", async (t) => {
  const triton = grpcClient(ep.port, 'triton');
  t.teardown(() => triton.close());
  const idx = await call<{ models: object[] }>(triton, 'RepositoryIndex', { repository_name: '', ready: false });
  t.same(idx.models, (await app.inject({ method: 'POST', url: '/v2/repository/index' })).json());
  t.same((await call<{ models: object[] }>(triton, 'RepositoryIndex', { repository_name: '', ready: true })).models, [
    { name: 'mixer-test', version: '1', state: 'READY', reason: '' },
  ]);
  const asNumbers = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(asNumbers)
      : x && typeof x === 'object'
        ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, asNumbers(v)]))
        : typeof x === 'string' && /^\d+$/.test(x)
          ? Number(x)
          : x;
  for (const [req, url] of [
    [{ name: '', version: '' }, '/v2/models/stats'],
    [{ name: 'mixer-test', version: '' }, `${base}/stats`],
    [{ name: 'mixer-test', version: '1' }, `${base}/versions/1/stats`],
  ] as const) {
    const g = asNumbers(await call(triton, 'ModelStatistics', req)) as { model_stats: Record<string, unknown>[] };
    const h = (await app.inject(url)).json() as { model_stats: Record<string, unknown>[] };
    t.equal(g.model_stats.length, 1);
    const { inference_stats: hi, batch_stats: hb, memory_usage: _m, ...hRest } = h.model_stats[0]!;
    const { inference_stats: gi, batch_stats: gb, ...gRest } = g.model_stats[0]!;
    t.same({ ...gRest, version: String(gRest['version']) }, hRest, `${url}: same counts`);
    t.same(gi, hi, `${url}: same durations (cache_hit and cache_miss included)`);
    t.same(gb, hb);
  }
  t.equal((await fails(call(triton, 'ModelStatistics', { name: 'nope', version: '' }))).code, grpc.status.NOT_FOUND);
});

t.test(
  'errors: INVALID_ARGUMENT with a message, NOT_FOUND, UNAVAILABLE on overload, UNAUTHENTICATED without the key',
  async (t) => {
    const inp = { name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] };
    const cases: [object, grpc.status, RegExp][] = [
      [
        { model_name: 'mixer-test', inputs: [inp], raw_input_contents: [Buffer.alloc(5)] },
        grpc.status.INVALID_ARGUMENT,
        /needs 3072 bytes/,
      ],
      [
        {
          model_name: 'mixer-test',
          inputs: [{ ...inp, datatype: 'FP32' }],
          raw_input_contents: [Buffer.alloc(3072 * 4)],
        },
        grpc.status.INVALID_ARGUMENT,
        /must be UINT8/,
      ],
      [
        { model_name: 'mixer-test', inputs: [{ ...inp, contents: { fp32_contents: [1] } }] },
        grpc.status.INVALID_ARGUMENT,
        /contents.uint_contents, not contents.fp32_contents/,
      ],
      [{ model_name: 'mixer-test', inputs: [inp] }, grpc.status.INVALID_ARGUMENT, /no contents/],
      [
        { model_name: 'mixer-test', inputs: [inp, inp], raw_input_contents: [Buffer.alloc(1)] },
        grpc.status.INVALID_ARGUMENT,
        /raw_input_contents has 1 entries for 2 inputs/,
      ],
      [{ model_name: '', inputs: [] }, grpc.status.INVALID_ARGUMENT, /model_name is required/],
      [
        { model_name: 'nope', inputs: [inp], raw_input_contents: [Buffer.alloc(3072)] },
        grpc.status.NOT_FOUND,
        /no model "nope"/,
      ],
      [
        { model_name: 'mixer-test', model_version: '9', inputs: [inp], raw_input_contents: [Buffer.alloc(3072)] },
        grpc.status.NOT_FOUND,
        /no version "9"/,
      ],
    ];
    for (const [req, code, msg] of cases) {
      const e = await fails(call(client, 'ModelInfer', req));
      t.equal(e.code, code, msg.source);
      t.match(e.details, msg);
    }
    t.equal((await fails(call(client, 'ModelMetadata', { name: 'nope', version: '' }))).code, grpc.status.NOT_FOUND);
    t.equal((await fails(call(client, 'ModelReady', { name: 'nope', version: '' }))).code, grpc.status.NOT_FOUND);

    // API keys: a second endpoint on the same app with a key list.
    const keyed = new GrpcEndpoint(app.mixer, { port: 0, host: '127.0.0.1', apiKeys: ['k-1', 'k-2'] }, '0');
    const kc = grpcClient(await keyed.listen());
    t.teardown(async () => {
      kc.close();
      await keyed.close(1000);
    });
    const meta = { name: 'mixer-test', version: '' };
    t.match(await fails(call(kc, 'ModelMetadata', meta)), {
      code: grpc.status.UNAUTHENTICATED,
      details: /missing API key/,
    });
    const wrong = new grpc.Metadata();
    wrong.set('authorization', 'Bearer k-3');
    t.match(await fails(call(kc, 'ModelMetadata', meta, wrong)), {
      code: grpc.status.UNAUTHENTICATED,
      details: 'invalid API key',
    });
    t.equal(
      (await fails(call(kc, 'ModelInfer', { model_name: 'mixer-test', inputs: [] }, wrong))).code,
      grpc.status.UNAUTHENTICATED,
    );
    const right = new grpc.Metadata();
    right.set('authorization', 'Bearer k-2');
    t.equal((await call<{ name: string }>(kc, 'ModelMetadata', meta, right)).name, 'mixer-test');
    // Health needs no key, as /v2/health/* over HTTP (probes carry none).
    t.same(await call(kc, 'ServerReady', {}), { ready: true });
    t.same(await call(kc, 'ServerLive', {}), { live: true });
  },
);

t.test('overload is UNAVAILABLE; graceful shutdown finishes in-flight calls and drains gRPC', async (t) => {
  const small = await testApp(t, {
    modelPath,
    maxBatch: 2,
    maxQueue: 4,
    batchDelayMs: 50,
    grpcPort: 0,
    host: '127.0.0.1',
  });
  await small.listen({ port: 0, host: '127.0.0.1' });
  const c = grpcClient(grpcEndpoint(small)!.port);
  t.teardown(() => c.close());
  const req = {
    model_name: 'mixer-test',
    inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [2, 32, 32, 3] }],
    raw_input_contents: [Buffer.from(pixels.subarray(0, 6144))],
  };
  const results = await Promise.allSettled(Array.from({ length: 24 }, () => call(c, 'ModelInfer', req)));
  const shed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  t.ok(shed.length > 0 && shed.length < 24, `${shed.length} of 24 shed`);
  t.ok(
    shed.every(
      (r) =>
        (r.reason as grpc.ServiceError).code === grpc.status.UNAVAILABLE &&
        /service is full/.test((r.reason as grpc.ServiceError).details),
    ),
  );
  // In flight when close starts: answered; after: refused. A one-image call goes first: it cannot share a batch with
  // the two-image one (maxBatch 2), so it waits out the 50 ms batch delay in the queue while the other is admitted.
  const single = {
    ...req,
    inputs: [{ ...req.inputs[0]!, shape: [1, 32, 32, 3] }],
    raw_input_contents: [Buffer.from(pixels.subarray(0, 3072))],
  };
  const { admission } = small.mixer;
  const first = call(c, 'ModelInfer', single);
  first.catch(() => {}); // awaited below; a failure while waiting is reported there
  await until(() => admission.images === 1, 10_000, 'the one-image call to be queued', 1);
  let pairDone = false;
  const pair = call(c, 'ModelInfer', req).finally(() => (pairDone = true));
  pair.catch(() => {});
  // Two or more images in flight: the two-image call is admitted (or already answered).
  await until(() => admission.images >= 2 || pairDone, 10_000, 'the two-image call to be admitted', 1);
  const inflight = Promise.all([first, pair]);
  const closing = small.close();
  const done = await inflight;
  t.equal(done.length, 2, 'in-flight calls finished');
  await closing;
  const after = await fails(call(c, 'ServerLive', {}));
  t.equal(after.code, grpc.status.UNAVAILABLE, 'the port is closed');
});

t.test('gRPC and HTTP requests share the micro-batcher: 2 + 2 single images in one model run', async (t) => {
  const shared = await testApp(t, { modelPath, maxBatch: 4, batchDelayMs: 1000, grpcPort: 0, host: '127.0.0.1' });
  await shared.listen({ port: 0, host: '127.0.0.1' });
  const c = grpcClient(grpcEndpoint(shared)!.port);
  t.teardown(() => c.close());
  const one = Buffer.from(pixels.subarray(0, 3072));
  const stats = async () => (await shared.inject('/v2/models/mixer-test/stats')).json().model_stats[0];
  const before = await stats();
  const t0 = performance.now();
  await Promise.all([
    call(c, 'ModelInfer', {
      model_name: 'mixer-test',
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
      raw_input_contents: [one],
    }),
    call(c, 'ModelInfer', {
      model_name: 'mixer-test',
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
      raw_input_contents: [one],
    }),
    ...[0, 1].map(() =>
      shared.inject({
        method: 'POST',
        url: '/v2/models/mixer-test/infer',
        payload: { inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', data: Array.from(one) }] },
      }),
    ),
  ]);
  const after = await stats();
  t.equal(after.inference_count - before.inference_count, 4);
  t.equal(after.execution_count - before.execution_count, 1, 'one run for the four');
  t.ok(performance.now() - t0 < 1000, 'a full batch went at once, before the 1 s batch delay');
});
