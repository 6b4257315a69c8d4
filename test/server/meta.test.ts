// app.inject tests of /healthz, /readyz, /v1/model, /metrics and /openapi.json, plus request ids and the request log.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { paramCount, preset } from '../../src/model/index.js';
import { buildAppWith, image, multipart, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir());
const logs = new PassThrough();
const lines: Record<string, unknown>[] = [];
logs.on('data', (d: Buffer) => {
  for (const l of d.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
});
const app = await buildAppWith({ modelPath, modelName: 'tiny-test', threads: 1, maxBatch: 4, logStream: logs });
t.teardown(() => app.close());

t.test('health and readiness', async (t) => {
  const h = await app.inject('/healthz');
  t.equal(h.statusCode, 200);
  t.same(h.json(), { status: 'ok' });
  const r = await app.inject('/readyz');
  t.equal(r.statusCode, 200);
  t.same(r.json(), { status: 'ready' });
});

t.test('/v1/model', async (t) => {
  const m = (await app.inject('/v1/model')).json();
  t.equal(m.name, 'tiny-test');
  t.equal(m.sha256, createHash('sha256').update(readFileSync(modelPath)).digest('hex'));
  t.equal(m.provider, 'cpu');
  t.same(m.config, preset('tiny'));
  t.equal(m.labels.length, 10);
  t.equal(m.inputSize, 32);
  t.equal(m.parameters, paramCount(preset('tiny')));
  t.same(m.input, { name: 'pixels', datatype: 'uint8', shape: [-1, 32, 32, 3], layout: 'NHWC' });
  t.match(m.batching, { maxBatch: 4, workers: 1, threads: 1 });
});

t.test('/metrics after some traffic', async (t) => {
  const png = await image('png');
  await app.inject({
    method: 'POST',
    url: '/classify',
    ...multipart([1, 2, 3].map((i) => ({ filename: `${i}.png`, data: png }))),
  });
  await app.inject({ method: 'POST', url: '/classify', headers: { 'content-type': 'text/plain' }, payload: 'x' });
  const r = await app.inject('/metrics');
  t.equal(r.statusCode, 200);
  t.match(r.headers['content-type'], /text\/plain/);
  const text = r.body;
  for (const name of [
    'mixer_http_requests_total',
    'mixer_http_request_duration_seconds_bucket',
    'mixer_queue_wait_seconds_bucket',
    'mixer_inference_duration_seconds_bucket',
    'mixer_batch_size_bucket',
    'mixer_queue_depth',
    'mixer_images_classified_total',
    'mixer_model_info',
    'process_resident_memory_bytes',
  ])
    t.match(text, name);
  t.match(text, /mixer_http_requests_total\{route="\/classify",method="POST",status="200"\} 1/);
  t.match(text, /mixer_http_requests_total\{route="\/classify",method="POST",status="415"\} 1/);
  t.match(text, /mixer_images_classified_total\{model="tiny-test",version="1"\} 3/);
  t.match(text, /mixer_queue_depth\{model="tiny-test",version="1"\} 0/);
  t.match(text, /mixer_model_info\{name="tiny-test",version="1",sha256="[0-9a-f]{64}",provider="cpu"\} 1/);
});

t.test('/openapi.json documents every route from its schemas', async (t) => {
  const r = await app.inject('/openapi.json');
  t.equal(r.statusCode, 200);
  const doc = r.json();
  t.match(doc.openapi, /^3\./);
  for (const p of [
    '/classify',
    '/healthz',
    '/readyz',
    '/v1/model',
    '/metrics',
    '/v2/health/live',
    '/v2/health/ready',
    '/v2/models/{name}',
    '/v2/models/{name}/ready',
    '/v2/models/{name}/infer',
    '/v1/feedback',
    '/v1/feedback/{model}',
  ]) {
    t.ok(doc.paths[p], `documents ${p}`);
  }
  t.ok(doc.paths['/openapi.json']?.get, 'documents itself');
  const classify = doc.paths['/classify'].post;
  t.ok(classify.requestBody.content['multipart/form-data'], 'multipart body documented');
  t.ok(classify.responses['200'].content['application/json'].schema.properties.results);
  t.ok(classify.responses['4XX'], 'errors documented');
  const feedback = doc.paths['/v1/feedback'].post;
  t.same(
    Object.keys(feedback.requestBody.content['multipart/form-data'].schema.properties).sort(),
    ['image', 'label', 'model', 'predicted', 'sha256', 'version'],
    'the correction fields documented',
  );
  t.same(feedback.responses['201'].content['application/json'].schema.required, ['id', 'sha256']);
  t.ok(doc.paths['/v1/feedback/{model}'].get.responses['200'].content['application/json'].schema.properties.labels);
  t.ok(doc.components.schemas.Error, 'the shared error schema');
});

t.test('request ids and one log line per request with its latency', async (t) => {
  const r = await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
  t.equal(r.headers['x-request-id'], 'abc-123');
  await new Promise((res) => setImmediate(res));
  const line = lines.find((l) => l['reqId'] === 'abc-123' && l['msg'] === 'request completed');
  t.ok(line, 'logged');
  t.match(line, { method: 'GET', url: '/healthz', statusCode: 200, ms: Number });
  t.ok(lines.some((l) => l['msg'] === 'model ready' && typeof l['warmupMs'] === 'number'));
});

t.test("an inference's line carries the model, version, batch and times the data plane set", async (t) => {
  const png = await image('png');
  const c = await app.inject({
    method: 'POST',
    url: '/classify',
    ...multipart([1, 2].map((i) => ({ filename: `${i}.png`, data: png }))),
    headers: { ...multipart([]).headers, 'x-request-id': 'log-classify' },
  });
  t.equal(c.statusCode, 200);
  const pixels = Buffer.alloc(32 * 32 * 3);
  const v = await app.inject({
    method: 'POST',
    url: '/v2/models/tiny-test/infer',
    headers: { 'x-request-id': 'log-v2' },
    payload: {
      inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [3, 32, 32, 3], data: [...pixels, ...pixels, ...pixels] }],
    },
  });
  t.equal(v.statusCode, 200);
  const bad = await app.inject({
    method: 'POST',
    url: '/v2/models/tiny-test/infer',
    headers: { 'x-request-id': 'log-bad' },
    payload: { inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], data: [1, 2, 3] }] },
  });
  t.equal(bad.statusCode, 400);
  await new Promise((res) => setImmediate(res));
  const line = (id: string) => lines.find((l) => l['reqId'] === id && l['msg'] === 'request completed');
  const times = { inputMs: Number, outputMs: Number };
  t.match(line('log-classify'), {
    url: '/classify',
    statusCode: 200,
    ms: Number,
    model: 'tiny-test',
    version: 1,
    batch: 2,
    ...times,
  });
  t.match(line('log-v2'), { statusCode: 200, model: 'tiny-test', version: 1, batch: 3, ...times });
  t.match(line('log-bad'), { statusCode: 400, model: 'tiny-test', version: 1 });
  t.notOk('inputMs' in (line('log-bad') ?? {}), 'a failed inference has no times');
  t.notOk('model' in (line('abc-123') ?? {}), 'a request without inference has no model fields');
});

t.test('readiness turns false while closing', async (t) => {
  const app2 = await buildAppWith({ modelPath, threads: 1, logger: false });
  app2.mixer.state.closing = true;
  const r = await app2.inject('/readyz');
  t.equal(r.statusCode, 503);
  t.equal(r.json().code, 'SHUTTING_DOWN');
  t.equal(r.headers['retry-after'], '1');
  app2.mixer.state.closing = false;
  await app2.close();
  t.equal(app2.mixer.state.closing, true, 'close() sets it');
});
