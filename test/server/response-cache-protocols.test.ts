// The response cache under every protocol: hits repeat the miss byte for byte over REST JSON, REST binary, gRPC raw and typed contents; values JSON cannot tell apart stay apart; MAX_RESPONSE_BYTES holds for a hit.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, grpcClient } from '../fixtures/grpc.js';
import { python, requirePython } from '../fixtures/oracle/torch.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';

if (!requirePython(t, ['onnx'])) process.exit(0);

const root = t.testdir();
mkdirSync(path.join(root, 'mixer', '1'), { recursive: true });
writeModel(path.join(root, 'mixer', '1'), 'tiny', 1, 'model.onnx');
await python([path.resolve('test/fixtures/dtype_models.py'), root]);
for (const m of ['mixer', 'mixed', 'words'])
  writeFileSync(path.join(root, m, 'config.json'), JSON.stringify({ response_cache: { enable: true } }));
const app = await testApp(t, {
  modelRepository: root,
  cacheBytes: 1 << 20,
  maxBatch: 4,
  grpcPort: 0,
  host: '127.0.0.1',
});
const client = grpcClient(grpcEndpoint(app)!.port);
t.teardown(() => client.close());

/** Hits and misses so far of a model's version 1. */
async function cacheCounts(model: string): Promise<{ hit: number; miss: number }> {
  const s = (await app.inject(`/v2/models/${model}/versions/1/stats`)).json().model_stats[0].inference_stats;
  return { hit: s.cache_hit.count, miss: s.cache_miss.count };
}

interface Tensor {
  name: string;
  datatype: 'UINT8' | 'FP32' | 'INT64' | 'BOOL' | 'BYTES';
  shape: number[];
  values: (number | boolean | string)[];
}

function bytesOf(x: Tensor): Buffer {
  switch (x.datatype) {
    case 'UINT8':
      return Buffer.from(Uint8Array.from(x.values as number[]));
    case 'BOOL':
      return Buffer.from(Uint8Array.from(x.values as boolean[], (v) => (v ? 1 : 0)));
    case 'FP32':
      return Buffer.from(Float32Array.from(x.values as number[]).buffer);
    case 'INT64':
      return Buffer.from(BigInt64Array.from(x.values as number[], (v) => BigInt(v)).buffer);
    case 'BYTES':
      return Buffer.concat(
        (x.values as string[]).flatMap((s) => {
          const b = Buffer.from(s, 'utf8');
          const len = Buffer.alloc(4);
          len.writeUInt32LE(b.length);
          return [len, b];
        }),
      );
  }
}

const CONTENTS = {
  UINT8: 'uint_contents',
  FP32: 'fp32_contents',
  INT64: 'int64_contents',
  BOOL: 'bool_contents',
  BYTES: 'bytes_contents',
} as const;

const restJson = (model: string, inputs: Tensor[], extra: object = {}) =>
  app.inject({
    method: 'POST',
    url: `/v2/models/${model}/infer`,
    payload: {
      inputs: inputs.map((x) => ({ name: x.name, datatype: x.datatype, shape: x.shape, data: x.values })),
      ...extra,
    },
  });

function restBinary(model: string, inputs: Tensor[], extra: object = {}) {
  const tensors = inputs.map(bytesOf);
  const head = Buffer.from(
    JSON.stringify({
      inputs: inputs.map((x, k) => ({
        name: x.name,
        datatype: x.datatype,
        shape: x.shape,
        parameters: { binary_data_size: tensors[k]!.length },
      })),
      parameters: { binary_data_output: true },
      ...extra,
    }),
  );
  return app.inject({
    method: 'POST',
    url: `/v2/models/${model}/infer`,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
    payload: Buffer.concat([head, ...tensors]),
  });
}

interface GrpcAnswer {
  id: string;
  model_version: string;
  outputs: { name: string }[];
  raw_output_contents: Buffer[];
}

const viaGrpc = (model: string, inputs: Tensor[], raw: boolean, id = '') =>
  call<GrpcAnswer>(client, 'ModelInfer', {
    model_name: model,
    id,
    inputs: inputs.map((x) => ({
      name: x.name,
      datatype: x.datatype,
      shape: x.shape.map(String),
      ...(raw
        ? {}
        : {
            contents: {
              [CONTENTS[x.datatype]]:
                x.datatype === 'INT64'
                  ? x.values.map(String)
                  : x.datatype === 'BYTES'
                    ? x.values.map((s) => Buffer.from(String(s), 'utf8'))
                    : x.values,
            },
          }),
    })),
    ...(raw ? { raw_input_contents: inputs.map(bytesOf) } : {}),
  });

const pixels = (seed: number): Tensor[] => [
  { name: 'pixels', datatype: 'UINT8', shape: [2, 32, 32, 3], values: Array.from(noise(32, 64, seed)) },
];
const mixed = (x: number[]): Tensor[] => [
  { name: 'x', datatype: 'FP32', shape: [1, 3], values: x },
  { name: 'i', datatype: 'INT64', shape: [1, 2], values: [-5, 9] },
  { name: 'b', datatype: 'BOOL', shape: [1, 2], values: [true, false] },
];
const words: Tensor[] = [{ name: 's', datatype: 'BYTES', shape: [3], values: ['cat', '', 'naïve 🐈'] }];

t.test('each protocol: the second request is a hit with the same bytes and the caller’s id', async (t) => {
  const cases: [string, Tensor[][]][] = [
    ['mixer', [pixels(1), pixels(2), pixels(3), pixels(4)]],
    ['mixed', [mixed([0.5, 1, 2]), mixed([1.5, 1, 2]), mixed([2.5, 1, 2]), mixed([3.5, 1, 2])]],
    [
      'words',
      [
        words,
        [{ ...words[0]!, values: ['a', 'b', 'c'] }],
        [{ ...words[0]!, values: ['d', 'e', 'f'] }],
        [{ ...words[0]!, values: ['g', 'h', 'i'] }],
      ],
    ],
  ];
  for (const [model, [forJson, forBinary, forRaw, forTyped]] of cases) {
    const c0 = await cacheCounts(model);
    const j1 = await restJson(model, forJson!, { id: 'first' });
    const j2 = await restJson(model, forJson!, { id: 'first' });
    t.equal(j1.statusCode, 200, `${model}: REST JSON ${j1.payload.slice(0, 120)}`);
    t.equal(j2.payload, j1.payload, `${model}: REST JSON hit = miss, byte for byte`);
    const j3 = await restJson(model, forJson!, { id: 'second' });
    t.equal(j3.json().id, 'second', `${model}: a hit carries the caller’s id`);
    t.equal(j3.payload, j1.payload.replace('"id":"first"', '"id":"second"'), `${model}: and nothing else changes`);

    const b1 = await restBinary(model, forBinary!);
    const b2 = await restBinary(model, forBinary!);
    t.equal(b1.statusCode, 200, `${model}: REST binary`);
    t.same(b2.rawPayload, b1.rawPayload, `${model}: REST binary hit = miss, byte for byte`);
    t.equal(b2.headers['inference-header-content-length'], b1.headers['inference-header-content-length']);

    const r1 = await viaGrpc(model, forRaw!, true, 'g1');
    const r2 = await viaGrpc(model, forRaw!, true, 'g2');
    t.same({ ...r2, id: 'g1' }, r1, `${model}: gRPC raw hit = miss`);
    t.equal(r2.id, 'g2');
    const y1 = await viaGrpc(model, forTyped!, false);
    const y2 = await viaGrpc(model, forTyped!, false);
    t.same(y2, y1, `${model}: gRPC typed hit = miss`);

    const c1 = await cacheCounts(model);
    t.same({ hit: c1.hit - c0.hit, miss: c1.miss - c0.miss }, { hit: 5, miss: 4 }, `${model}: 5 hits, 4 misses`);
  }
});

t.test('the same tensors over another protocol hit the same answer', async (t) => {
  const c0 = await cacheCounts('mixer');
  const b = await restBinary('mixer', pixels(9));
  const g = await viaGrpc('mixer', pixels(9), true);
  t.same(await cacheCounts('mixer'), { hit: c0.hit + 1, miss: c0.miss + 1 }, 'gRPC raw hit what REST binary kept');
  const len = Number(b.headers['inference-header-content-length']);
  const head = JSON.parse(b.rawPayload.subarray(0, len).toString('utf8'));
  t.same(
    g.outputs.map((o) => o.name),
    head.outputs.map((o: { name: string }) => o.name),
  );
  t.same(Buffer.concat(g.raw_output_contents), b.rawPayload.subarray(len), 'the same tensor bytes');
});

t.test('values JSON text cannot tell apart (-0, NaN, ±Infinity) are different requests', async (t) => {
  // -0 and 0: y = 2x keeps the sign, so a shared key would answer +0 for -0.
  const plus = await viaGrpc('mixed', mixed([0, 1, 2]), false);
  const minus = await viaGrpc('mixed', mixed([-0, 1, 2]), false);
  t.equal(plus.raw_output_contents[0]!.readFloatLE(0), 0);
  t.ok(Object.is(minus.raw_output_contents[0]!.readFloatLE(0), -0), '-0 answers -0, not the kept +0');
  // NaN and ±Infinity are all null in JSON text: each must get its own answer.
  const nan = await viaGrpc('mixed', mixed([Number.NaN, 1, 2]), false);
  t.ok(Number.isNaN(nan.raw_output_contents[0]!.readFloatLE(0)));
  const inf = await viaGrpc('mixed', mixed([Number.POSITIVE_INFINITY, 1, 2]), false);
  t.equal(inf.raw_output_contents[0]!.readFloatLE(0), Number.POSITIVE_INFINITY, 'Infinity is not NaN’s entry');
  const ninf = await viaGrpc('mixed', mixed([Number.NEGATIVE_INFINITY, 1, 2]), false);
  t.equal(ninf.raw_output_contents[0]!.readFloatLE(0), Number.NEGATIVE_INFINITY, '-Infinity is not Infinity’s');
});

t.test('MAX_RESPONSE_BYTES applies to a hit as to a miss (a long id can push the bound over)', async (t) => {
  const small = await testApp(t, { modelRepository: root, cacheBytes: 1 << 20, maxResponseBytes: 1500 });
  const ask = (x: number[], id: string) =>
    small.inject({
      method: 'POST',
      url: '/v2/models/mixed/infer',
      payload: {
        id,
        inputs: mixed(x).map((v) => ({ name: v.name, datatype: v.datatype, shape: v.shape, data: v.values })),
      },
    });
  const long = 'x'.repeat(150);
  t.equal((await ask([1, 2, 3], 'a')).statusCode, 200, 'a short id fits');
  const hit = await ask([1, 2, 3], long);
  const miss = await ask([4, 5, 6], long);
  t.equal(miss.statusCode, 400);
  t.equal(miss.json().code, 'RESPONSE_TOO_LARGE', 'a miss with the long id is refused before inference');
  t.equal(hit.statusCode, 400, 'and so is a hit');
  t.same(hit.json(), miss.json(), 'with the same error');
});
