// OpenTelemetry tracing end to end: a real OTLP/HTTP receiver, the service on real HTTP and gRPC ports, spans checked (parent chain, continued trace, batch links, attributes, errors), log lines joined by trace_id, and Triton's trace settings.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { grpcScope, httpScope } from '../../src/server/access/scopes.js';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { samplerFromEnv, TraceSettings } from '../../src/server/observe/trace-settings.js';
import { startTracing, tracingWanted } from '../../src/server/observe/tracing.js';
import { call, fails, type GrpcClient, grpcClient, streamAll } from '../fixtures/grpc.js';
import { listenLocal } from '../fixtures/listen.js';
import { otlpReceiver, type ReceivedSpan } from '../fixtures/otlp.js';
import { image, multipart, noise, testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const receiver = await otlpReceiver();
t.teardown(() => receiver.close());
Object.assign(process.env, {
  OTEL_TRACES_EXPORTER: 'otlp',
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_BSP_SCHEDULE_DELAY: '20',
  OTEL_SERVICE_NAME: 'mixer-under-test',
  OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
});

const lines: Record<string, unknown>[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
    done();
  },
});
const modelPath = writeModel(t.testdir());
// A long batch delay and batches of 4: four concurrent one-row requests share one micro-batch, which starts as soon
// as the fourth is queued, however slowly they arrive.
const app = await testApp(t, {
  modelPath,
  maxBatch: 4,
  batchDelayMs: 1000,
  grpcPort: 0,
  host: '127.0.0.1',
  logger: true,
  logStream,
  logSuccesses: 1000,
});
const { url } = await listenLocal(app);
const client: GrpcClient = grpcClient(grpcEndpoint(app)!.port);
const triton: GrpcClient = grpcClient(grpcEndpoint(app)!.port, 'triton');
t.teardown(() => {
  client.close();
  triton.close();
});

const model = '/v2/models/mixer-test';
const inferBody = (seed: number) => ({
  inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', data: Array.from(noise(32, 32, seed)) }],
});
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

/** The spans of one trace once its server span (and its `min` spans) arrived. */
async function traceOf(traceId: string, min = 1): Promise<ReceivedSpan[]> {
  const mine = () => receiver.spans.filter((s) => s.traceId === traceId);
  await until(() => mine().some((s) => s.kind === 2) && mine().length >= min, 10_000, `spans of trace ${traceId}`);
  return mine();
}
const parse = (traceparent: string | null) => {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])$/.exec(traceparent ?? '');
  if (!m) throw new Error(`not a traceparent: ${traceparent}`);
  return { traceId: m[1]!, spanId: m[2]!, sampled: m[3] === '1' };
};
/** A settings route's JSON answer: the settings, or an error. */
type SettingsBody = { trace_level?: string[]; trace_rate?: string; trace_count?: string; error?: string };
const json = async (r: Response | Promise<Response>): Promise<SettingsBody> => (await (await r).json()) as SettingsBody;
const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

t.test('classify: a server span with the semantic-convention attributes and the stages as its children', async (t) => {
  const png = await image('png');
  const { payload, headers } = multipart([{ field: 'image', filename: 'a.png', type: 'image/png', data: png }]);
  const res = await fetch(`${url}/classify`, { method: 'POST', headers, body: payload });
  t.equal(res.status, 200);
  const tp = parse(res.headers.get('traceparent'));
  t.ok(tp.sampled, 'the answer carries the server span, sampled');
  const spans = await traceOf(tp.traceId, 7);
  const server = spans.find((s) => s.kind === 2)!;
  t.equal(server.spanId, tp.spanId, 'the traceparent answered is the server span');
  t.equal(server.parentSpanId, '', 'no incoming traceparent: a new trace');
  t.equal(server.name, 'POST /classify');
  t.match(server.attributes, {
    'http.request.method': 'POST',
    'http.route': '/classify',
    'url.path': '/classify',
    'http.response.status_code': 200,
    'server.address': '127.0.0.1',
    'client.address': '127.0.0.1',
    model_name: 'mixer-test',
    model_version: '1',
  });
  t.match(server.resource, { 'service.name': 'mixer-under-test', 'deployment.environment': 'test' });
  for (const name of ['mixer.read', 'mixer.admission', 'mixer.decode', 'mixer.queue', 'mixer.batch', 'mixer.encode']) {
    const [s] = byName(spans, name);
    t.ok(s, `${name} span`);
    t.equal(s?.parentSpanId, server.spanId, `${name} is a child of the server span`);
    t.match(s?.attributes, { model_name: 'mixer-test', model_version: '1' }, `${name} names the model`);
  }
  t.match(byName(spans, 'mixer.decode')[0]!.attributes, {
    'mixer.format': 'image',
    'mixer.images': 1,
    'mixer.input_bytes': png.length,
    'mixer.output_bytes': 32 * 32 * 3,
  });
  t.match(byName(spans, 'mixer.admission')[0]!.attributes, { 'mixer.rows': 1 });
  const batch = byName(spans, 'mixer.batch')[0]!;
  t.match(batch.attributes, { 'mixer.batch.size': 1, 'mixer.worker': Number, 'mixer.inference_ms': Number });
  t.same(batch.links, [{ traceId: tp.traceId, spanId: server.spanId }], 'the batch span links the request');
  t.same(byName(spans, 'mixer.queue')[0]!.links, [{ traceId: tp.traceId, spanId: batch.spanId }]);
  t.ok(spans.every((s) => s.endNs >= s.startNs));
  // Every line written for this request carries its trace and span ids.
  await until(() => lines.some((l) => l['trace_id'] === tp.traceId), 5000, 'the request log line');
  const line = lines.find((l) => l['trace_id'] === tp.traceId && l['msg'] === 'request completed')!;
  t.equal(line['span_id'], server.spanId);
  t.equal(line['url'], '/classify');
});

t.test('an incoming traceparent and tracestate are continued; several requests share one batch span', async (t) => {
  const callers = [0, 1, 2, 3].map((i) => ({
    traceId: `4bf92f3577b34da6a3ce929d0e0e${String(4730 + i).padStart(4, '0')}`,
    parent: `00f067aa0ba902b${i}`,
  }));
  const answers = await Promise.all(
    callers.map((c, i) =>
      post(`${model}/infer`, inferBody(i + 1), {
        traceparent: `00-${c.traceId}-${c.parent}-01`,
        tracestate: 'vendor=abc',
      }),
    ),
  );
  t.same(
    answers.map((a) => a.status),
    [200, 200, 200, 200],
  );
  // A malformed traceparent is ignored: the request starts a trace of its own.
  const odd = await fetch(`${url}/v2`, {
    headers: { traceparent: '00-zz-not-a-trace-context', tracestate: 'x'.repeat(9000) },
  });
  t.equal(odd.status, 200);
  const fresh = parse(odd.headers.get('traceparent'));
  t.notOk(callers.some((c) => c.traceId === fresh.traceId));
  t.equal(odd.headers.get('tracestate'), null, 'an invalid tracestate is not echoed');
  const servers: ReceivedSpan[] = [];
  for (const [i, c] of callers.entries()) {
    const tp = parse(answers[i]!.headers.get('traceparent'));
    t.equal(tp.traceId, c.traceId, 'the caller trace goes on');
    t.equal(answers[i]!.headers.get('tracestate'), 'vendor=abc', 'tracestate is passed back');
    const spans = await traceOf(c.traceId, 6);
    const server = spans.find((s) => s.kind === 2)!;
    t.equal(server.parentSpanId, c.parent, "the server span's parent is the caller's span");
    t.equal(server.name, 'POST /v2/models/:name/infer');
    for (const name of [
      'mixer.decode',
      'mixer.admission',
      'mixer.convert',
      'mixer.queue',
      'mixer.output',
      'mixer.encode',
    ])
      t.equal(byName(spans, name)[0]?.parentSpanId, server.spanId, `${name} under the server span`);
    t.match(byName(spans, 'mixer.decode')[0]!.attributes, { 'mixer.format': 'values', 'mixer.inputs': 1 });
    t.match(byName(spans, 'mixer.convert')[0]!.attributes, { 'mixer.rows': 1, 'mixer.output_bytes': 32 * 32 * 3 });
    servers.push(server);
  }
  // One batch ran all four: one batch span (in the first rider's trace), linked to every rider's server span.
  const batches = receiver.spans.filter(
    (s) => s.name === 'mixer.batch' && s.links.some((l) => servers.some((v) => v.spanId === l.spanId)),
  );
  t.equal(batches.length, 1, 'one batch span');
  const batch = batches[0]!;
  t.match(batch.attributes, { 'mixer.batch.size': 4, 'mixer.batch.requests': 4 });
  t.same(
    new Set(batch.links.map((l) => `${l.traceId}/${l.spanId}`)),
    new Set(servers.map((s) => `${s.traceId}/${s.spanId}`)),
    'the batch span links every request that rode in it',
  );
  t.ok(
    servers.some((s) => s.spanId === batch.parentSpanId),
    "the batch span's parent is one rider's server span",
  );
  for (const s of servers) {
    const q = receiver.spans.find((x) => x.traceId === s.traceId && x.name === 'mixer.queue')!;
    t.same(q.links, [{ traceId: batch.traceId, spanId: batch.spanId }], 'each queue span links the batch span');
  }
});

t.test('errors: a 4xx sets the span status ERROR with the service error code', async (t) => {
  const missing = await post('/v2/models/nope/infer', inferBody(1));
  t.equal(missing.status, 404);
  const a = await traceOf(parse(missing.headers.get('traceparent')).traceId);
  const server = a.find((s) => s.kind === 2)!;
  t.equal(server.status.code, 2);
  t.match(server.attributes, { 'error.type': 'MODEL_NOT_FOUND', 'http.response.status_code': 404 });

  const bad = await post(`${model}/infer`, { inputs: [{ name: 'pixels', shape: [1], datatype: 'UINT8', data: [1] }] });
  t.equal(bad.status, 400);
  const b = await traceOf(parse(bad.headers.get('traceparent')).traceId, 2);
  t.match(b.find((s) => s.kind === 2)!.attributes, { 'error.type': 'BAD_TENSOR', model_name: 'mixer-test' });
  const convert = byName(b, 'mixer.convert')[0]!;
  t.equal(convert.status.code, 2, 'the failing stage is an error too');
  const errLine = lines.find((l) => l['trace_id'] === b[0]!.traceId && l['statusCode'] === 400);
  t.ok(errLine, 'the rejection line carries the trace id');
});

t.test(
  'gRPC ModelInfer: the metadata traceparent continues, the answer metadata carries the server span',
  async (t) => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${traceId}-b7ad6b7169203331-01`);
    const initial = new Promise<grpc.Metadata>((resolve, reject) => {
      const c = client['ModelInfer']!.call(
        client,
        {
          model_name: 'mixer-test',
          inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
          raw_input_contents: [noise(32, 32, 3)],
        },
        md,
        (e) => (e ? reject(e) : undefined),
      ) as unknown as grpc.ClientUnaryCall;
      c.on('metadata', resolve);
    });
    const sent = parse((await initial).get('traceparent')[0] as string);
    t.equal(sent.traceId, traceId);
    const spans = await traceOf(traceId, 6);
    const server = spans.find((s) => s.kind === 2)!;
    t.equal(server.spanId, sent.spanId);
    t.equal(server.parentSpanId, 'b7ad6b7169203331');
    t.equal(server.name, 'inference.GRPCInferenceService/ModelInfer');
    t.match(server.attributes, {
      'rpc.system': 'grpc',
      'rpc.service': 'inference.GRPCInferenceService',
      'rpc.method': 'ModelInfer',
      'rpc.grpc.status_code': 0,
      model_name: 'mixer-test',
    });
    t.match(byName(spans, 'mixer.decode')[0]!.attributes, { 'mixer.format': 'binary', 'mixer.input_bytes': 3072 });
    t.ok(byName(spans, 'mixer.batch')[0]?.links.some((l) => l.spanId === server.spanId));

    const e = await fails(call(client, 'ModelInfer', { model_name: 'nope', inputs: [] }));
    t.equal(e.code, grpc.status.NOT_FOUND);
    const failed = parse(e.metadata.get('traceparent')[0] as string);
    const f = (await traceOf(failed.traceId)).find((s) => s.kind === 2)!;
    t.equal(f.status.code, 2);
    t.match(f.attributes, { 'error.type': 'MODEL_NOT_FOUND', 'rpc.grpc.status_code': grpc.status.NOT_FOUND });
  },
);

t.test("gRPC ModelStreamInfer: one server span per message, under the call's trace context", async (t) => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const md = new grpc.Metadata();
  md.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);
  const good = (id: string, seed: number) => ({
    id,
    model_name: 'mixer-test',
    inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
    raw_input_contents: [noise(32, 32, seed)],
  });
  const answers = await streamAll(
    triton,
    [good('a', 11), { id: 'b', model_name: 'nope', inputs: [] }, good('c', 12)],
    md,
  );
  t.same(
    answers.map((a) => a.error_message === ''),
    [true, false, true],
  );
  await until(() => receiver.spans.filter((s) => s.traceId === traceId && s.kind === 2).length >= 3, 10_000, 'three');
  const servers = receiver.spans.filter((s) => s.traceId === traceId && s.kind === 2);
  t.equal(servers.length, 3, 'one server span per message');
  for (const s of servers) {
    t.equal(s.name, 'inference.GRPCInferenceService/ModelStreamInfer');
    t.equal(s.parentSpanId, '00f067aa0ba902b7');
  }
  const failed = servers.filter((s) => s.status.code === 2);
  t.equal(failed.length, 1);
  t.match(failed[0]!.attributes, { 'error.type': 'MODEL_NOT_FOUND', 'rpc.grpc.status_code': grpc.status.NOT_FOUND });
  await until(
    () => receiver.spans.filter((s) => s.traceId === traceId && s.name === 'mixer.queue').length >= 2,
    10_000,
    'queue spans of the two good messages',
  );
});

t.test('Triton trace settings over REST: shapes, validation, and the next request follows them', async (t) => {
  const got = await json(fetch(`${url}/v2/trace/setting`));
  t.same(got, {
    trace_level: ['TIMESTAMPS'],
    trace_rate: '1',
    trace_count: '-1',
    log_frequency: '0',
    trace_file: '',
    trace_mode: 'opentelemetry',
  });
  for (const [body, what] of [
    [{ trace_rate: 'often' }, 'trace_rate'],
    [{ trace_level: ['TENSORS'] }, 'TENSORS'],
    [{ trace_file: '/tmp/x.json' }, 'trace_file'],
    [{ bogus: 1 }, 'bogus'],
    [[1], 'object'],
  ] as const) {
    const r = await post('/v2/trace/setting', body);
    t.equal(r.status, 400, `${JSON.stringify(body)} refused`);
    t.match((await json(r)).error, what);
  }
  t.equal((await post('/v2/models/nope/trace/setting', { trace_rate: '1' })).status, 404);

  // trace_rate 0: the next request is not traced; back to 1: the one after is.
  t.match(await json(post('/v2/trace/setting', { trace_rate: '0' })), { trace_rate: '0' });
  const off = await fetch(`${url}${model}`);
  t.equal(off.status, 200);
  t.equal(off.headers.get('traceparent'), null, 'not sampled: no traceparent');
  t.match(await json(post('/v2/trace/setting', { trace_rate: '1' })), { trace_rate: '1' });
  const on = await fetch(`${url}${model}/ready`);
  await traceOf(parse(on.headers.get('traceparent')).traceId);
  await app.mixer.tracing.flush();
  t.notOk(
    receiver.spans.some((s) => s.attributes['url.path'] === model),
    'the request made at rate 0 left no span',
  );

  // Every 3rd request.
  await post('/v2/trace/setting', { trace_rate: '3' });
  const traced = [];
  for (let i = 0; i < 6; i++) traced.push((await fetch(`${url}${model}`)).headers.has('traceparent'));
  t.same(traced, [true, false, false, true, false, false]);
  await post('/v2/trace/setting', { trace_rate: null });

  // A model's own level overrides the global one; null clears it.
  const m = await json(post(`${model}/trace/setting`, { trace_level: ['OFF'] }));
  t.same(m.trace_level, ['OFF']);
  t.same((await json(fetch(`${url}/v2/trace/setting`))).trace_level, ['TIMESTAMPS']);
  t.equal((await post(`${model}/infer`, inferBody(5))).headers.get('traceparent'), null, 'the model is not traced');
  t.ok((await fetch(`${url}/v2`)).headers.has('traceparent'), 'other requests still are');
  t.same((await json(post(`${model}/trace/setting`, { trace_level: null }))).trace_level, ['TIMESTAMPS']);
  t.ok((await post(`${model}/infer`, inferBody(5))).headers.has('traceparent'));

  // trace_count: two more traces, then none.
  await post('/v2/trace/setting', { trace_count: '2' });
  const counted = [];
  for (let i = 0; i < 3; i++) counted.push((await fetch(`${url}/v2`)).headers.has('traceparent'));
  t.same(counted, [true, true, false]);
  t.match(await json(fetch(`${url}/v2/trace/setting`)), { trace_count: '0' });
  await post('/v2/trace/setting', { trace_count: '-1' });
  // A caller's sampled=0 flag is followed (parent-based sampling).
  const unsampled = await fetch(`${url}/v2`, {
    headers: { traceparent: '00-11111111111111111111111111111111-2222222222222222-00' },
  });
  t.equal(unsampled.headers.get('traceparent'), null);
});

t.test('Triton TraceSetting over gRPC: the settings map read and changed', async (t) => {
  type Reply = { settings: Record<string, { value: string[] }> };
  const got = await call<Reply>(triton, 'TraceSetting', {});
  t.same(got.settings['trace_level'], { value: ['TIMESTAMPS'] });
  t.same(got.settings['trace_rate'], { value: ['1'] });
  t.same(got.settings['trace_file'], { value: [] });
  const set = await call<Reply>(triton, 'TraceSetting', {
    model_name: 'mixer-test',
    settings: { trace_rate: { value: ['7'] } },
  });
  t.same(set.settings['trace_rate'], { value: ['7'] });
  t.same((await call<Reply>(triton, 'TraceSetting', {})).settings['trace_rate'], { value: ['1'] }, 'global unchanged');
  const cleared = await call<Reply>(triton, 'TraceSetting', {
    model_name: 'mixer-test',
    settings: { trace_rate: { value: [] } },
  });
  t.same(cleared.settings['trace_rate'], { value: ['1'] });
  const e = await fails(call(triton, 'TraceSetting', { settings: { trace_level: { value: ['TENSORS'] } } }));
  t.equal(e.code, grpc.status.INVALID_ARGUMENT);
  t.equal((await fails(call(triton, 'TraceSetting', { model_name: 'nope' }))).code, grpc.status.NOT_FOUND);
});

t.test('trace settings need the admin scope', async (t) => {
  t.equal(httpScope('/v2/trace/setting'), 'admin');
  t.equal(httpScope('/v2/models/:name/trace/setting'), 'admin');
  t.equal(httpScope('/v2/models/:name/infer'), 'infer');
  t.equal(grpcScope('/inference.GRPCInferenceService/TraceSetting'), 'admin');
  const keyFile = path.join(t.testdir(), 'keys.txt');
  writeFileSync(keyFile, 'infer-key scopes=infer\nadmin-key scopes=admin\n');
  const guarded = await testApp(t, { modelPath, apiKeyFile: keyFile, tracing: 'off', grpcPort: 0, host: '127.0.0.1' });
  await guarded.ready();
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  for (const url of ['/v2/trace/setting', `${model}/trace/setting`]) {
    t.equal((await guarded.inject({ url, headers: as('infer-key') })).statusCode, 403, `GET ${url}: infer key refused`);
    t.equal((await guarded.inject({ url })).statusCode, 401, `GET ${url}: no key`);
    const post = { method: 'POST' as const, url, payload: { trace_rate: '5' } };
    t.equal((await guarded.inject({ ...post, headers: as('infer-key') })).statusCode, 403, `POST ${url}: infer key`);
    const ok = await guarded.inject({ ...post, headers: as('admin-key') });
    t.equal(ok.statusCode, 200, `POST ${url}: admin key`);
    t.equal(ok.json().trace_rate, '5');
  }
  const guardedClient = grpcClient(grpcEndpoint(guarded)!.port, 'triton');
  t.teardown(() => guardedClient.close());
  const md = (key: string) => {
    const m = new grpc.Metadata();
    m.set('authorization', `Bearer ${key}`);
    return m;
  };
  const denied = await fails(call(guardedClient, 'TraceSetting', {}, md('infer-key')));
  t.equal(denied.code, grpc.status.PERMISSION_DENIED);
  t.ok(await call(guardedClient, 'TraceSetting', {}, md('admin-key')));
});

t.test(
  'configuration: off unless asked, the OTEL_* sampler mapped to trace_rate, unsupported values refused',
  async (t) => {
    t.notOk(tracingWanted({ tracing: 'auto' }, {}), 'auto without OTEL_TRACES_EXPORTER: off');
    t.ok(tracingWanted({ tracing: 'auto' }, { OTEL_TRACES_EXPORTER: 'otlp' }));
    t.notOk(tracingWanted({ tracing: 'off' }, { OTEL_TRACES_EXPORTER: 'otlp' }));
    t.notOk(tracingWanted({ tracing: 'on' }, { OTEL_SDK_DISABLED: 'true' }));
    t.ok(tracingWanted({ tracing: 'on' }, {}));
    t.throws(() => tracingWanted({ tracing: 'auto' }, { OTEL_TRACES_EXPORTER: 'zipkin' }), /zipkin.*otlp or none/);
    const off = await startTracing({ tracing: 'off' }, {}, () => {});
    t.equal(off.on, false);
    t.same(off.settings.get().trace_level, ['OFF']);
    t.throws(() => off.settings.update({ trace_level: ['TIMESTAMPS'] }), /tracing is off/);
    await t.rejects(
      startTracing({ tracing: 'on' }, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, () => {}),
      /grpc is not supported/,
    );
    t.same(samplerFromEnv('traceidratio', '0.01'), { rate: 100, parentBased: false });
    t.same(samplerFromEnv('parentbased_traceidratio', '0'), { rate: 0, parentBased: true });
    t.same(samplerFromEnv(undefined, undefined), { rate: 1, parentBased: true });
    t.same(samplerFromEnv('always_off', undefined), { rate: 0, parentBased: false });
    t.match(samplerFromEnv('traceidratio', '2'), /from 0 to 1/);
    t.match(samplerFromEnv('jaeger_remote', undefined), /not supported/);
    const s = new TraceSettings(true, { rate: 2, parentBased: false });
    t.same([s.sample(undefined, true), s.sample(undefined, true), s.sample(undefined, false)], [true, false, true]);
  },
);

t.test('tracing off: no traceparent on answers and nothing sent', async (t) => {
  const before = receiver.contentTypes.length;
  const plain = await testApp(t, { modelPath, tracing: 'off' });
  const res = await plain.inject({ method: 'POST', url: `${model}/infer`, payload: inferBody(2) });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['traceparent'], undefined);
  t.equal(plain.mixer.tracing.on, false);
  t.same((await plain.inject('/v2/trace/setting')).json().trace_mode, 'off');
  await plain.mixer.tracing.flush();
  t.ok(
    receiver.contentTypes.slice(before).every((c) => c.startsWith('application/json')),
    'exports are OTLP JSON',
  );
});

t.test('a collector that is down costs spans, not requests: a warning, and shutdown still completes', async (t) => {
  const dead = await otlpReceiver();
  await dead.close(); // its port now refuses connections
  const endpoint = process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  const timeout = process.env['OTEL_EXPORTER_OTLP_TIMEOUT'];
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: dead.url, OTEL_EXPORTER_OTLP_TIMEOUT: '1000' });
  const warnings: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.includes('could not be exported')) warnings.push(l);
      done();
    },
  });
  let lonely: Awaited<ReturnType<typeof testApp>>;
  try {
    lonely = await testApp(t, { modelPath, logger: true, logStream: stream });
  } finally {
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = endpoint;
    if (timeout === undefined) delete process.env['OTEL_EXPORTER_OTLP_TIMEOUT'];
    else process.env['OTEL_EXPORTER_OTLP_TIMEOUT'] = timeout;
  }
  const res = await lonely.inject({ method: 'POST', url: `${model}/infer`, payload: inferBody(3) });
  t.equal(res.statusCode, 200);
  t.ok(res.headers['traceparent']);
  await lonely.mixer.tracing.flush();
  t.equal(warnings.length, 1, 'the failed export is logged once');
  await t.resolves(lonely.close(), 'shutdown completes');
});
