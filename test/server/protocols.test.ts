// One data plane under every protocol: the same inputs over REST JSON, REST binary, gRPC raw and gRPC typed contents give byte-identical output tensors and equal error codes.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, fails, grpcClient } from '../fixtures/grpc.js';
import { python, requirePython } from '../fixtures/oracle/torch.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';

if (!requirePython(t, ['onnx'])) process.exit(0);

const root = t.testdir();
mkdirSync(path.join(root, 'mixer', '1'), { recursive: true });
writeModel(path.join(root, 'mixer', '1'), 'tiny', 1, 'model.onnx');
await python([path.resolve('test/fixtures/dtype_models.py'), root]);
const app = await testApp(t, { modelRepository: root, maxBatch: 4, maxQueue: 8, grpcPort: 0, host: '127.0.0.1' });
await app.listen({ port: 0, host: '127.0.0.1' });
const client = grpcClient(grpcEndpoint(app)!.port);
t.teardown(() => client.close());

type Datatype = 'UINT8' | 'FP32' | 'INT64' | 'BOOL' | 'BYTES';
interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  values: (number | boolean | string)[];
}
interface Case {
  what: string;
  model: string;
  inputs: Tensor[];
  outputs?: { name: string; classification?: number }[];
}
/** What a protocol answered: each output's datatype, shape and bytes (hex), or the error code. */
type Answer = Record<string, { datatype: string; shape: number[]; hex: string }> | { code: string };

/** The wire bytes of values of a datatype (BYTES: 4-byte little-endian length, then UTF-8). */
function bytesOf(datatype: string, values: readonly unknown[]): Buffer {
  switch (datatype) {
    case 'UINT8':
      return Buffer.from(Uint8Array.from(values as number[]));
    case 'BOOL':
      return Buffer.from(Uint8Array.from(values as unknown[], (v) => (v === true || v === 1 ? 1 : 0)));
    case 'FP32':
      return Buffer.from(Float32Array.from(values as number[]).buffer);
    case 'INT64':
      return Buffer.from(BigInt64Array.from(values as number[], (v) => BigInt(v)).buffer);
    case 'BYTES':
      return Buffer.concat(
        (values as string[]).flatMap((s) => {
          const b = Buffer.from(s, 'utf8');
          const len = Buffer.alloc(4);
          len.writeUInt32LE(b.length);
          return [len, b];
        }),
      );
    default:
      throw new Error(`no test encoding for ${datatype}`);
  }
}

const restOutputs = (c: Case, binary: boolean) =>
  c.outputs?.map((o) => ({
    name: o.name,
    parameters: { binary_data: binary, ...(o.classification ? { classification: o.classification } : {}) },
  }));

async function restJson(c: Case): Promise<Answer> {
  const r = await app.inject({
    method: 'POST',
    url: `/v2/models/${c.model}/infer`,
    payload: {
      inputs: c.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, data: i.values })),
      ...(c.outputs ? { outputs: restOutputs(c, false) } : {}),
    },
  });
  const j = r.json();
  if (r.statusCode !== 200) return { code: j.code };
  return Object.fromEntries(
    (j.outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]).map((o) => [
      o.name,
      { datatype: o.datatype, shape: o.shape, hex: bytesOf(o.datatype, o.data).toString('hex') },
    ]),
  );
}

async function restBinary(c: Case): Promise<Answer> {
  const tensors = c.inputs.map((i) => bytesOf(i.datatype, i.values));
  const head = Buffer.from(
    JSON.stringify({
      inputs: c.inputs.map((i, k) => ({
        name: i.name,
        datatype: i.datatype,
        shape: i.shape,
        parameters: { binary_data_size: tensors[k]!.length },
      })),
      ...(c.outputs ? { outputs: restOutputs(c, true) } : {}),
      parameters: { binary_data_output: true },
    }),
  );
  const r = await app.inject({
    method: 'POST',
    url: `/v2/models/${c.model}/infer`,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
    payload: Buffer.concat([head, ...tensors]),
  });
  if (r.statusCode !== 200) return { code: r.json().code };
  const len = Number(r.headers['inference-header-content-length']);
  const j = JSON.parse(r.rawPayload.subarray(0, len).toString('utf8'));
  let at = len;
  return Object.fromEntries(
    (j.outputs as { name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }[]).map(
      (o) => {
        const b = r.rawPayload.subarray(at, at + o.parameters.binary_data_size);
        at += b.length;
        return [o.name, { datatype: o.datatype, shape: o.shape, hex: b.toString('hex') }];
      },
    ),
  );
}

const CONTENTS: Record<Datatype, string> = {
  UINT8: 'uint_contents',
  FP32: 'fp32_contents',
  INT64: 'int64_contents',
  BOOL: 'bool_contents',
  BYTES: 'bytes_contents',
};

const typedValues = (i: Tensor): unknown[] =>
  i.datatype === 'INT64'
    ? i.values.map(String)
    : i.datatype === 'BYTES'
      ? i.values.map((s) => Buffer.from(String(s), 'utf8'))
      : i.values;

async function viaGrpc(c: Case, raw: boolean): Promise<Answer> {
  const req = {
    model_name: c.model,
    inputs: c.inputs.map((i) => ({
      name: i.name,
      datatype: i.datatype,
      shape: i.shape,
      ...(raw ? {} : { contents: { [CONTENTS[i.datatype]]: typedValues(i) } }),
    })),
    ...(raw ? { raw_input_contents: c.inputs.map((i) => bytesOf(i.datatype, i.values)) } : {}),
    outputs: (c.outputs ?? []).map((o) => ({
      name: o.name,
      parameters: o.classification ? { classification: { int64_param: o.classification } } : {},
    })),
  };
  try {
    const r = await call<{
      outputs: { name: string; datatype: string; shape: string[] }[];
      raw_output_contents: Buffer[];
    }>(client, 'ModelInfer', req);
    return Object.fromEntries(
      r.outputs.map((o, k) => [
        o.name,
        { datatype: o.datatype, shape: o.shape.map(Number), hex: r.raw_output_contents[k]!.toString('hex') },
      ]),
    );
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: String(err.metadata.get('mixer-code')[0] ?? `grpc ${err.code}`) };
  }
}

const pixels = (rows: number, seed: number): Tensor => ({
  name: 'pixels',
  datatype: 'UINT8',
  shape: [rows, 32, 32, 3],
  values: Array.from(noise(32, 32 * rows, seed)),
});
const mixed = (rows: number): Tensor[] => [
  { name: 'x', datatype: 'FP32', shape: [rows, 3], values: Array.from({ length: rows * 3 }, (_, k) => k * 0.37 - 1.1) },
  { name: 'i', datatype: 'INT64', shape: [rows, 2], values: Array.from({ length: rows * 2 }, (_, k) => k * 7 - 5) },
  { name: 'b', datatype: 'BOOL', shape: [rows, 2], values: Array.from({ length: rows * 2 }, (_, k) => k % 3 === 0) },
];

const answers: Case[] = [
  { what: 'UINT8 pixels, 1 row', model: 'mixer', inputs: [pixels(1, 3)] },
  { what: 'UINT8 pixels, 3 rows', model: 'mixer', inputs: [pixels(3, 4)] },
  {
    what: 'UINT8 pixels, classification 3 and logits',
    model: 'mixer',
    inputs: [pixels(2, 5)],
    outputs: [{ name: 'probabilities', classification: 3 }, { name: 'logits' }],
  },
  { what: 'FP32, INT64 and BOOL, 1 row', model: 'mixed', inputs: mixed(1) },
  { what: 'FP32, INT64 and BOOL, 4 rows', model: 'mixed', inputs: mixed(4) },
  {
    what: 'FP32 classification 2 and BOOL',
    model: 'mixed',
    inputs: mixed(3),
    outputs: [{ name: 'y', classification: 2 }, { name: 'nb' }],
  },
  {
    what: 'BYTES, 3 strings',
    model: 'words',
    inputs: [{ name: 's', datatype: 'BYTES', shape: [3], values: ['cat', '', 'naïve 🐈'] }],
  },
];

t.test('the same inputs give byte-identical outputs over REST JSON, REST binary and gRPC raw and typed', async (t) => {
  for (const c of answers) {
    const json = await restJson(c);
    t.notOk('code' in json, `${c.what}: REST JSON answers (${JSON.stringify(json).slice(0, 80)})`);
    t.same(await restBinary(c), json, `${c.what}: REST binary = REST JSON`);
    t.same(await viaGrpc(c, true), json, `${c.what}: gRPC raw = REST JSON`);
    t.same(await viaGrpc(c, false), json, `${c.what}: gRPC typed = REST JSON`);
  }
});

const mixerMeta = (shape: number[], datatype: Datatype = 'UINT8'): Tensor => ({
  name: 'pixels',
  datatype,
  shape,
  values: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 1),
});

/** Errors every protocol can express; `valueLevel`: only where values are listed (JSON data, typed contents). */
const errors: (Case & { code: string; valueLevel?: boolean })[] = [
  { what: 'unknown model', model: 'nope', inputs: [pixels(1, 1)], code: 'MODEL_NOT_FOUND' },
  { what: 'wrong datatype', model: 'mixer', inputs: [mixerMeta([1, 32, 32, 3], 'FP32')], code: 'BAD_TENSOR' },
  { what: 'wrong shape', model: 'mixer', inputs: [mixerMeta([1, 28, 28, 3])], code: 'BAD_TENSOR' },
  {
    what: 'too few values',
    model: 'mixer',
    inputs: [{ ...pixels(1, 2), values: pixels(1, 2).values.slice(1) }],
    code: 'BAD_TENSOR',
  },
  {
    what: 'unknown output',
    model: 'mixer',
    inputs: [pixels(1, 2)],
    outputs: [{ name: 'features' }],
    code: 'BAD_TENSOR',
  },
  { what: 'missing input', model: 'mixed', inputs: mixed(1).slice(0, 2), code: 'BAD_TENSOR' },
  { what: 'rows over MAX_QUEUE', model: 'mixer', inputs: [pixels(9, 2)], code: 'TOO_MANY_IMAGES' },
  {
    what: 'a value out of UINT8 range',
    model: 'mixer',
    inputs: [{ ...pixels(1, 2), values: [256, ...pixels(1, 2).values.slice(1)] }],
    code: 'BAD_TENSOR',
    valueLevel: true,
  },
  {
    what: 'a negative UINT8 value',
    model: 'mixer',
    inputs: [{ ...pixels(1, 2), values: [...pixels(1, 2).values.slice(1), -1] }],
    code: 'BAD_TENSOR',
    valueLevel: true,
  },
];

t.test('the same bad inputs get the same error code over every protocol', async (t) => {
  for (const c of errors) {
    t.same(await restJson(c), { code: c.code }, `${c.what}: REST JSON`);
    t.same(await viaGrpc(c, false), { code: c.code }, `${c.what}: gRPC typed`);
    if (c.valueLevel) continue;
    t.same(await restBinary(c), { code: c.code }, `${c.what}: REST binary`);
    t.same(await viaGrpc(c, true), { code: c.code }, `${c.what}: gRPC raw`);
  }
  t.equal((await fails(call(client, 'ModelInfer', { model_name: 'mixer', inputs: [] }))).code, 3);
});
