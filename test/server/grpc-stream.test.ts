// Triton's gRPC ModelConfig and ModelStreamInfer on a real port: the config equals HTTP's; a stream answers each request in order with its id, an error per message without closing, the cache and statistics as unary calls; scopes, per-message rate limits, a client that never reads, cancel, deadline.
import { mkdirSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { grpcEndpoint, STREAM_MAX_IN_FLIGHT, tritonService } from '../../src/server/grpc/server.js';
import { call, fails, grpcClient, openStream, type StreamAnswer, streamAll } from '../fixtures/grpc.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const dir = t.testdir();
const root = path.join(dir, 'models');
mkdirSync(path.join(root, 'mixer', '1'), { recursive: true });
writeModel(path.join(root, 'mixer', '1'), 'tiny', 1, 'model.onnx');
writeFileSync(
  path.join(root, 'mixer', 'config.json'),
  JSON.stringify({ response_cache: { enable: true }, version_policy: { latest: { num_versions: 1 } } }),
);
const KEYS = { reader: 'reader-key-0123456789', adminOnly: 'admin-key-0123456789', slow: 'slow-key-0123456789' };
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(
  keyFile,
  [
    `${KEYS.reader} scopes=infer`,
    `${KEYS.adminOnly} scopes=admin`,
    `${KEYS.slow} scopes=infer rate=0.01/s burst=3`,
  ].join('\n'),
);
const app = await testApp(t, {
  modelRepository: root,
  apiKeyFile: keyFile,
  cacheBytes: 1 << 20,
  maxBatch: 8,
  // Short: a stream must outlive it (the receive deadline is for unary calls only).
  requestTimeoutMs: 400,
  grpcPort: 0,
  host: '127.0.0.1',
});
await app.listen({ port: 0, host: '127.0.0.1' });
const triton = grpcClient(grpcEndpoint(app)!.port, 'triton');
t.teardown(() => triton.close());
const md = (key: string) => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${key}`);
  return m;
};
const auth = { authorization: `Bearer ${KEYS.reader}` };

const request = (id: string, seed: number, rows = 1, extra: object = {}) => ({
  model_name: 'mixer',
  id,
  inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [rows, 32, 32, 3] }],
  raw_input_contents: [noise(32, 32 * rows, seed)],
  ...extra,
});
/** Successful requests of mixer version 1, all it has taken (successes and failures), and its cache hits. */
async function counts(): Promise<{ success: number; taken: number; hit: number }> {
  const s = (await app.inject({ url: '/v2/models/mixer/versions/1/stats', headers: auth })).json().model_stats[0]
    .inference_stats;
  return { success: s.success.count, taken: s.success.count + s.fail.count, hit: s.cache_hit.count };
}

t.test('ModelConfig answers what GET /v2/models/{m}/config answers, in Triton message form', async (t) => {
  const http = (await app.inject({ url: '/v2/models/mixer/config', headers: auth })).json();
  const g = await call<{ config: Record<string, unknown> }>(triton, 'ModelConfig', { name: 'mixer' }, md(KEYS.reader));
  const c = g.config as {
    input: { dims: string[] }[];
    output: { dims: string[] }[];
    dynamic_batching: { max_queue_delay_microseconds: string };
  };
  // proto-loader gives 64-bit integers as strings; the rest is field for field the HTTP JSON.
  const numeric = {
    ...c,
    input: c.input.map((i) => ({ ...i, dims: i.dims.map(Number) })),
    output: c.output.map((o) => ({ ...o, dims: o.dims.map(Number) })),
    dynamic_batching: { max_queue_delay_microseconds: Number(c.dynamic_batching.max_queue_delay_microseconds) },
  };
  t.match(numeric, http);
  t.match(c, {
    name: 'mixer',
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: 8,
    input: [{ name: 'pixels', data_type: 'TYPE_UINT8', format: 'FORMAT_NONE', dims: ['32', '32', '3'] }],
    output: [
      { name: 'logits', data_type: 'TYPE_FP32', dims: ['10'] },
      { name: 'probabilities', data_type: 'TYPE_FP32', dims: ['10'] },
    ],
    version_policy: { latest: { num_versions: 1 }, policy_choice: 'latest' },
    instance_group: [{ name: 'mixer_0', kind: 'KIND_CPU', count: 1 }],
    default_model_filename: 'model.onnx',
    model_transaction_policy: { decoupled: false },
    response_cache: { enable: true },
    scheduling_choice: 'dynamic_batching',
  });
  const v1 = await call<{ config: { name: string } }>(
    triton,
    'ModelConfig',
    { name: 'mixer', version: '1' },
    md(KEYS.reader),
  );
  t.equal(v1.config.name, 'mixer');
  t.equal((await fails(call(triton, 'ModelConfig', { name: 'nope' }, md(KEYS.reader)))).code, grpc.status.NOT_FOUND);
  t.equal(
    (await fails(call(triton, 'ModelConfig', { name: 'mixer', version: '7' }, md(KEYS.reader)))).code,
    grpc.status.NOT_FOUND,
  );
  t.equal((await fails(call(triton, 'ModelConfig', { name: 'mixer' }))).code, grpc.status.UNAUTHENTICATED);
});

t.test(
  'a stream answers each request in order with its id; a bad one gets its error_message and the stream goes on',
  async (t) => {
    const before = await counts();
    const reqs = [
      request('a', 1, 2),
      request('bad-shape', 2, 1, { inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 31, 32, 3] }] }),
      request('c', 3),
      { ...request('no-model', 4), model_name: 'nope' },
      request('a-again', 1, 2),
      request('', 5),
    ];
    const answers = await streamAll(triton, reqs, md(KEYS.reader));
    t.equal(answers.length, reqs.length, 'one answer per request');
    t.same(
      answers.map((a) => a.infer_response?.id),
      ['a', 'bad-shape', 'c', 'no-model', 'a-again', ''],
      'ids echoed, in request order',
    );
    t.same(
      answers.map((a) => a.error_message === ''),
      [true, false, true, false, true, true],
    );
    t.match(answers[1]!.error_message, /pixels/);
    t.equal(answers[1]!.infer_response!.parameters['mixer-code']?.string_param, 'BAD_TENSOR');
    t.match(answers[3]!.error_message, /nope/);
    t.equal(answers[3]!.infer_response!.parameters['mixer-code']?.string_param, 'MODEL_NOT_FOUND');
    // Each answer is byte for byte what unary ModelInfer answers for the same request.
    for (const [i, k] of [
      [0, 0],
      [2, 2],
      [5, 5],
    ] as const) {
      const unary = await call<{ raw_output_contents: Buffer[]; model_version: string }>(
        triton,
        'ModelInfer',
        reqs[k]!,
        md(KEYS.reader),
      );
      t.same(answers[i]!.infer_response!.raw_output_contents, unary.raw_output_contents, `answer ${i} = unary`);
      t.equal(answers[i]!.infer_response!.model_version, unary.model_version);
    }
    t.same(answers[4]!.infer_response!.raw_output_contents, answers[0]!.infer_response!.raw_output_contents);
    const after = await counts();
    // The stream's 4 good requests and the 3 unary ones. The unary repeats are cache hits; 'a-again' is one only when
    // 'a' had finished before it started (a stream runs up to 8 requests at once, and the cache keeps answers, not
    // requests in flight).
    t.equal(after.success - before.success, 7, 'statistics count stream requests as unary ones');
    const hits = after.hit - before.hit;
    t.ok(hits === 3 || hits === 4, `cache hits: the 3 unary repeats, and 'a-again' if 'a' was done (${hits})`);
  },
);

t.test('a stream outlives the unary receive deadline; an idle one ends at its own deadline', async (t) => {
  const s = openStream(triton, md(KEYS.reader));
  const got: StreamAnswer[] = [];
  s.on('data', (a: StreamAnswer) => got.push(a));
  const ended = new Promise<void>((resolve, reject) => {
    s.on('end', resolve);
    s.on('error', reject);
  });
  s.write(request('first', 7));
  await until(() => got.length === 1, 10_000, 'the first answer');
  await new Promise((r) => setTimeout(r, 600)); // past requestTimeoutMs (400): proves the stream is not cut
  s.write(request('second', 8));
  s.end();
  await ended;
  t.same(
    got.map((a) => [a.infer_response?.id, a.error_message]),
    [
      ['first', ''],
      ['second', ''],
    ],
  );
  const late = openStream(triton, md(KEYS.reader), { deadline: Date.now() + 300 });
  const e = await new Promise<grpc.ServiceError>((resolve) => {
    late.on('error', resolve);
    late.on('data', () => {});
  });
  t.equal(e.code, grpc.status.DEADLINE_EXCEEDED);
});

t.test('scopes: an infer key streams and is refused unload; an admin-only key cannot open a stream', async (t) => {
  const ok = await streamAll(triton, [request('r', 9)], md(KEYS.reader));
  t.equal(ok[0]!.error_message, '');
  const unload = await fails(call(triton, 'RepositoryModelUnload', { model_name: 'mixer' }, md(KEYS.reader)));
  t.equal(unload.code, grpc.status.PERMISSION_DENIED);
  t.match(unload.details, /lacks the "admin" scope/);
  const e = await streamAll(triton, [request('x', 9)], md(KEYS.adminOnly)).then(
    () => null,
    (err: grpc.ServiceError) => err,
  );
  t.equal(e?.code, grpc.status.PERMISSION_DENIED);
  t.match(e?.details, /lacks the "infer" scope/);
  const none = await streamAll(triton, [request('x', 9)]).then(
    () => null,
    (err: grpc.ServiceError) => err,
  );
  t.equal(none?.code, grpc.status.UNAUTHENTICATED);
});

t.test(
  'rate limit: each message takes a token; one over the limit gets RATE_LIMITED, the stream goes on',
  async (t) => {
    // burst 3 at 0.01/s: the stream's start takes the first request's token, then two more pass.
    const answers = await streamAll(
      triton,
      [1, 2, 3, 4, 5].map((i) => request(`m${i}`, 20 + i)),
      md(KEYS.slow),
    );
    t.same(
      answers.map((a) => a.infer_response?.parameters['mixer-code']?.string_param ?? 'ok'),
      ['ok', 'ok', 'ok', 'RATE_LIMITED', 'RATE_LIMITED'],
    );
    t.same(
      answers.map((a) => a.infer_response?.id),
      ['m1', 'm2', 'm3', 'm4', 'm5'],
    );
    t.match(answers[3]!.error_message, /rate limit exceeded \(0\.01\/s, burst 3 for this API key\); retry in \d+ s/);
    // The bucket is empty now: a new stream is refused at its start, as a unary call is.
    const e = await streamAll(triton, [request('late', 30)], md(KEYS.slow)).then(
      () => null,
      (err: grpc.ServiceError) => err,
    );
    t.equal(e?.code, grpc.status.RESOURCE_EXHAUSTED);
    // Another key is not affected.
    t.equal((await streamAll(triton, [request('other', 31)], md(KEYS.reader)))[0]!.error_message, '');
  },
);

t.test(
  'a client that never reads holds a bounded number of requests; reading again gets every answer in order',
  async (t) => {
    // A raw HTTP/2 client: it sends every request and reads nothing until told (grpc-js clients read ahead).
    const method = tritonService().service['ModelStreamInfer']!;
    const total = 300;
    const rows = 8; // ~700-byte answers: HTTP/2 flow control stops the server well before `total`
    const before = (await counts()).taken;
    const session = http2.connect(`http://127.0.0.1:${grpcEndpoint(app)!.port}`);
    t.teardown(() => session.close());
    const st = session.request({
      ':method': 'POST',
      ':path': method.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: `Bearer ${KEYS.reader}`,
    });
    st.pause();
    for (let i = 0; i < total; i++) {
      const body = method.requestSerialize(request(`n${i}`, 1000 + i, rows));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
      st.write(Buffer.concat([head, body]));
    }
    st.end();
    await until(async () => (await counts()).taken - before >= 20, 30_000, 'the server to start answering');
    let last = -1;
    // Settled: no request answered for a while (a fixed wait, to prove that no more are taken).
    for (;;) {
      await new Promise((r) => setTimeout(r, 400));
      const now = (await counts()).taken - before;
      if (now === last) break;
      last = now;
    }
    t.ok(
      last < total / 2,
      `the server stopped taking requests at ${last} of ${total} (in flight ≤ ${STREAM_MAX_IN_FLIGHT})`,
    );
    const chunks: Buffer[] = [];
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => st.on('trailers', resolve));
    st.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => st.on('end', r));
    st.resume();
    await ended;
    t.equal((await trailers)['grpc-status'], '0');
    const all = Buffer.concat(chunks);
    const ids: string[] = [];
    for (let o = 0; o < all.length; ) {
      const n = all.readUInt32BE(o + 1);
      const a = method.responseDeserialize(all.subarray(o + 5, o + 5 + n)) as StreamAnswer;
      if (a.error_message === '') ids.push(a.infer_response!.id);
      o += 5 + n;
    }
    t.equal(ids.length, total, 'every request answered once the client reads, none failed');
    t.ok(
      ids.every((id, i) => id === `n${i}`),
      'in request order',
    );
  },
);

t.test('a cancelled stream frees the server; the next calls are answered', async (t) => {
  const s = openStream(triton, md(KEYS.reader));
  s.on('error', () => {});
  s.on('data', () => {});
  for (let i = 0; i < 20; i++) s.write(request(`c${i}`, 2000 + i, 4));
  s.cancel();
  const answers = await streamAll(triton, [request('after', 3000)], md(KEYS.reader));
  t.equal(answers[0]!.error_message, '');
  t.same(await call(triton, 'ServerReady', {}), { ready: true });
});

t.test('shutdown: an open stream answers the requests it read, then ends UNAVAILABLE', async (t) => {
  mkdirSync(path.join(dir, 'single'));
  const modelPath = writeModel(path.join(dir, 'single'));
  const app2 = await testApp(t, { modelPath, grpcPort: 0, host: '127.0.0.1', batchDelayMs: 300, maxBatch: 8 });
  await app2.listen({ port: 0, host: '127.0.0.1' });
  const c = grpcClient(grpcEndpoint(app2)!.port, 'triton');
  t.teardown(() => c.close());
  const s = openStream(c);
  const got: StreamAnswer[] = [];
  s.on('data', (a: StreamAnswer) => got.push(a));
  const status = new Promise<grpc.ServiceError | null>((resolve) => {
    s.on('error', resolve);
    s.on('end', () => resolve(null));
  });
  s.write({ ...request('held', 40), model_name: 'mixer-test' });
  // Queued for the 300 ms batch delay when shutdown starts: it must still be answered.
  await until(
    async () => /\nmixer_images_in_flight 1\n/.test((await app2.inject('/metrics')).body),
    10_000,
    'the request to be queued',
  );
  const closed = app2.close();
  const e = await status;
  await closed;
  t.same(
    got.map((a) => [a.infer_response?.id, a.error_message]),
    [['held', '']],
  );
  t.equal(e?.code, grpc.status.UNAVAILABLE);
});
