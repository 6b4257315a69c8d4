// One log line per unary gRPC call, as HTTP requests get: request id, method, status, latency and an inference's fields.
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, fails, grpcClient } from '../fixtures/grpc.js';
import { buildAppWith, noise, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const modelPath = writeModel(t.testdir());
const logs = new PassThrough();
const lines: Record<string, unknown>[] = [];
logs.on('data', (d: Buffer) => {
  for (const l of d.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
});
const app = await buildAppWith({ modelPath, threads: 1, maxBatch: 4, grpcPort: 0, host: '127.0.0.1', logStream: logs });
t.teardown(() => app.close());
await app.listen({ port: 0, host: '127.0.0.1' });
const client = grpcClient(grpcEndpoint(app)!.port);
t.teardown(() => client.close());

const md = (id: string) => {
  const m = new grpc.Metadata();
  m.set('x-request-id', id);
  return m;
};
const lineOf = async (id: string) => {
  await until(() => lines.some((l) => l['reqId'] === id), 5000, `the line of ${id}`);
  return lines.find((l) => l['reqId'] === id)!;
};
const request = (rows: number) => ({
  model_name: 'mixer-test',
  inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [rows, 32, 32, 3] }],
  raw_input_contents: [Buffer.from(noise(32, 32 * rows, 3))],
});

t.test('an inference: its model, version, rows and times, with the status and the latency', async (t) => {
  await call(client, 'ModelInfer', request(2), md('grpc-ok'));
  t.match(await lineOf('grpc-ok'), {
    msg: 'grpc call completed',
    grpcMethod: '/inference.GRPCInferenceService/ModelInfer',
    grpcStatus: 'OK',
    ms: Number,
    model: 'mixer-test',
    version: 1,
    batch: 2,
    inputMs: Number,
    outputMs: Number,
  });
});

t.test("a refused call: the service's code and the gRPC status; no times", async (t) => {
  const e = await fails(call(client, 'ModelInfer', { ...request(1), model_name: 'nope' }, md('grpc-404')));
  t.equal(e.code, grpc.status.NOT_FOUND);
  const line = await lineOf('grpc-404');
  t.match(line, { msg: 'grpc call completed', grpcStatus: 'NOT_FOUND', code: 'MODEL_NOT_FOUND', ms: Number });
  t.notOk('inputMs' in line, 'no times for a call that ran nothing');
});

t.test('without a valid x-request-id the call gets a fresh id', async (t) => {
  const before = lines.length;
  await call(client, 'ServerLive', {}, md('not a valid id!'));
  await until(
    () => lines.slice(before).some((l) => l['grpcMethod'] === '/inference.GRPCInferenceService/ServerLive'),
    5000,
    'the ServerLive line',
  );
  const line = lines.slice(before).find((l) => l['grpcMethod'] === '/inference.GRPCInferenceService/ServerLive')!;
  t.match(line['reqId'], /^[0-9a-f-]{36}$/);
});
