// Readiness as KServe/Triton mean it, on real HTTP and gRPC ports: with --readiness all (the default) the server is
// ready only when every model that should be loaded is READY, with `any` when one is; a model that failed to load
// answers 503 MODEL_UNAVAILABLE without Retry-After (gRPC FAILED_PRECONDITION) with its load error, and the typed
// client does not retry it; a float-input model without scale, mean or std is warned about at load.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { Client, MixerError } from '../../src/index.js';
import { Builder, Graph, serializeModel } from '../../src/onnx/index.js';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, grpcClient } from '../fixtures/grpc.js';
import { listenLocal } from '../fixtures/listen.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';

/** good: an onnx-mixer model; float: float32 NCHW input, no config.json; broken: not an ONNX file. */
function repository(dir: string, broken = true): string {
  mkdirSync(path.join(dir, 'good', '1'), { recursive: true });
  writeModel(path.join(dir, 'good', '1'), 'tiny', 1, 'model.onnx');
  const g = new Graph('float');
  const b = new Builder(g);
  const x = g.input('x', 'float32', ['N', 3, 8, 8]);
  g.output(b.reshape(x, ['N', 192], 'scores'));
  mkdirSync(path.join(dir, 'float', '1'), { recursive: true });
  writeFileSync(path.join(dir, 'float', '1', 'model.onnx'), serializeModel(g));
  if (broken) {
    mkdirSync(path.join(dir, 'broken', '1'), { recursive: true });
    writeFileSync(path.join(dir, 'broken', '1', 'model.onnx'), 'not an onnx model');
  }
  return dir;
}

async function serve(t: Test, dir: string, readiness?: 'all' | 'any') {
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const app = await testApp(t, {
    modelRepository: dir,
    ...(readiness ? { readiness } : {}),
    maxBatch: 2,
    grpcPort: 0,
    host: '127.0.0.1',
    logger: true,
    logLevel: 'warn',
    logStream,
  });
  const { url } = await listenLocal(app);
  const port = grpcEndpoint(app)!.port;
  const inference = grpcClient(port);
  const health = grpcClient(port, 'health');
  t.teardown(() => {
    inference.close();
    health.close();
  });
  return {
    url,
    logs,
    rpc: (method: string, req: object = {}) => call(inference, method, req),
    check: (service = '') => call(health, 'Check', { service }),
  };
}

t.test('--readiness all (default): not ready while a model that should be loaded failed', async (t) => {
  const s = await serve(t, repository(t.testdir()));
  for (const route of ['/v2/health/ready', '/readyz']) {
    const r = await fetch(s.url + route);
    t.equal(r.status, 503, `${route} is 503`);
    const j = (await r.json()) as { code: string; message: string };
    t.equal(j.code, 'NOT_READY');
    t.match(j.message, /1 model version\(s\) not ready: broken version 1: .*not a valid ONNX model/);
  }
  t.same(await s.rpc('ServerReady'), { ready: false }, 'gRPC ServerReady agrees');
  t.same(await s.check(), { status: 'NOT_SERVING' }, 'gRPC health agrees');
  t.same(await s.rpc('ModelReady', { name: 'good', version: '' }), { ready: true }, 'the good model is ready');
  t.equal((await fetch(`${s.url}/v2/models/good/ready`)).status, 200);
});

t.test('--readiness any keeps the lenient behaviour; a repository without failures is ready either way', async (t) => {
  const any = await serve(t, repository(t.testdir()), 'any');
  t.equal((await fetch(`${any.url}/v2/health/ready`)).status, 200);
  t.same(await any.rpc('ServerReady'), { ready: true });
  const all = await serve(t, repository(path.join(t.testdir(), 'clean'), false));
  t.equal((await fetch(`${all.url}/v2/health/ready`)).status, 200);
  t.equal((await fetch(`${all.url}/readyz`)).status, 200);
  t.same(await all.rpc('ServerReady'), { ready: true });
  t.same(await all.check(), { status: 'SERVING' });
});

t.test('a model that failed to load: 503 MODEL_UNAVAILABLE without Retry-After, not retried', async (t) => {
  const s = await serve(t, repository(t.testdir()));
  const body = JSON.stringify({
    inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', data: Array.from(noise(32, 32)) }],
  });
  const r = await fetch(`${s.url}/v2/models/broken/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  t.equal(r.status, 503);
  t.equal(r.headers.get('retry-after'), null, 'no Retry-After: waiting does not help');
  const j = (await r.json()) as { code: string; error: string };
  t.equal(j.code, 'MODEL_UNAVAILABLE');
  t.match(j.error, /model "broken" is unavailable: version 1: .*broken\/1\/model\.onnx is not a valid ONNX model/);
  t.ok(j.error.length < 1200, 'the message is bounded');
  const c = await fetch(`${s.url}/classify?model=broken`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: new Uint8Array(8),
  });
  t.equal(c.status, 503);
  t.equal(c.headers.get('retry-after'), null, '/classify too');

  // The typed client gives up at once (before: two more attempts, a second apart).
  const count = async () => {
    const m = await (await fetch(`${s.url}/metrics`)).text();
    const line = m
      .split('\n')
      .find((l) => l.startsWith('mixer_http_requests_total{') && l.includes('/infer') && l.includes('status="503"'));
    return Number(line?.split(' ').pop() ?? 0);
  };
  const before = await count();
  const t0 = performance.now();
  const e = await new Client({ baseUrl: s.url, retries: 2 })
    .infer('broken', { pixels: new Uint8Array(32 * 32 * 3) })
    .catch((x: unknown) => x);
  t.ok(e instanceof MixerError);
  t.match(e, { status: 503, code: 'MODEL_UNAVAILABLE', message: /not a valid ONNX model/ });
  t.equal((await count()) - before, 1, 'one request, no retry');
  t.ok(performance.now() - t0 < 900, 'no Retry-After wait');

  const g = await s.rpc('ModelInfer', { model_name: 'broken', inputs: [] }).catch((x: grpc.ServiceError) => x);
  t.match(g, { code: grpc.status.FAILED_PRECONDITION, details: /not a valid ONNX model/ }, 'gRPC: not UNAVAILABLE');
  t.same(await s.rpc('ModelReady', { name: 'broken', version: '' }), { ready: false });
});

t.test('a float-input model without scale, mean or std is warned about at load, naming the assumption', async (t) => {
  const s = await serve(t, repository(t.testdir(), false));
  const warn = s.logs
    .map((l) => JSON.parse(l) as { level: number; msg: string; model?: string })
    .filter((l) => l.model === 'float');
  t.equal(warn.length, 1, 'one line');
  t.match(warn[0], {
    level: 40,
    msg: /input "x" is float32 .* sets no "scale", "mean" or "std": assuming pixel\/255 \(scale 1\/255, mean 0, std 1\)/,
  });
  t.notOk(
    s.logs.some((l) => l.includes('"model":"good"')),
    'none for the onnx-mixer model',
  );
});
