// gRPC and the hardening rules together: the server's key ring (incl. API_KEYS_FILE), whole-request admission, the response cap and output rules; v2 error fields on 401/413/cap answers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call as callOn, fails, grpcClient } from '../fixtures/grpc.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';

const dir = t.testdir();
const modelPath = writeModel(dir);
const FLAG = 'flag-key-0123456789abcdef';
const FILE = 'file-key-fedcba9876543210';
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(keyFile, `# keys\n${FILE}\n`);

const app = await testApp(t, {
  modelPath,
  apiKeys: [FLAG],
  apiKeyFile: keyFile,
  maxResponseBytes: 4096,
  maxQueue: 128,
  grpcPort: 0,
  host: '127.0.0.1',
});
await app.listen({ port: 0, host: '127.0.0.1' });
const client = grpcClient(grpcEndpoint(app)!.port);
t.teardown(() => client.close());
const md = (key?: string) => {
  const m = new grpc.Metadata();
  if (key !== undefined) m.set('authorization', `Bearer ${key}`);
  return m;
};
const call = <T = Record<string, unknown>>(method: string, req: object, m = md(FILE)): Promise<T> =>
  callOn<T>(client, method, req, m);
const rows = (n: number) => ({
  model_name: 'mixer-test',
  inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [n, 32, 32, 3] }],
  raw_input_contents: [noise(32, 32 * n, 3)],
});
const codeOf = (e: grpc.ServiceError) => e.metadata.get('mixer-code')[0];

t.test(
  'gRPC keys are the server key ring: flag and key-file keys pass, others do not; health stays open',
  async (t) => {
    const meta = { name: 'mixer-test', version: '' };
    t.equal((await call<{ name: string }>('ModelMetadata', meta, md(FLAG))).name, 'mixer-test', 'the --api-key key');
    t.equal(
      (await call<{ name: string }>('ModelMetadata', meta, md(FILE))).name,
      'mixer-test',
      'the API_KEYS_FILE key',
    );
    t.match(await fails(call('ModelMetadata', meta, md())), {
      code: grpc.status.UNAUTHENTICATED,
      details: /missing API key/,
    });
    t.match(await fails(call('ModelMetadata', meta, md(`${FILE}x`))), {
      code: grpc.status.UNAUTHENTICATED,
      details: 'invalid API key',
    });
    t.equal((await fails(call('ModelInfer', rows(1), md('nope')))).code, grpc.status.UNAUTHENTICATED);
    t.same(await call('ServerReady', {}, md()), { ready: true });
    t.same(await call('ServerLive', {}, md()), { live: true });
  },
);

t.test(
  'gRPC ModelInfer: a request over MAX_QUEUE rows is refused whole; the response cap and the one-output-once rule apply',
  async (t) => {
    const tooMany = await fails(call('ModelInfer', rows(129)));
    t.equal(tooMany.code, grpc.status.INVALID_ARGUMENT);
    t.equal(codeOf(tooMany), 'TOO_MANY_IMAGES');
    // Raw outputs: 16 rows × 10 classes × 4 bytes × 2 outputs fit in 4096 bytes; 64 rows (5120 bytes) do not.
    const ok = await call<{ outputs: { name: string }[]; raw_output_contents: Buffer[] }>('ModelInfer', rows(16));
    t.same(ok.outputs.map((o) => o.name).sort(), ['logits', 'probabilities']);
    const capped = await fails(call('ModelInfer', rows(64)));
    t.equal(capped.code, grpc.status.INVALID_ARGUMENT);
    t.equal(codeOf(capped), 'RESPONSE_TOO_LARGE');
    const twice = await fails(call('ModelInfer', { ...rows(1), outputs: [{ name: 'logits' }, { name: 'logits' }] }));
    t.equal(twice.code, grpc.status.INVALID_ARGUMENT);
    t.match(twice.details, /more than once/);
  },
);

t.test('overload: gRPC calls beyond the admitted images get UNAVAILABLE, as HTTP gets 503', async (t) => {
  const small = await testApp(t, {
    modelPath,
    maxBatch: 2,
    maxQueue: 2,
    batchDelayMs: 200,
    grpcPort: 0,
    host: '127.0.0.1',
  });
  await small.listen({ port: 0, host: '127.0.0.1' });
  const c = grpcClient(grpcEndpoint(small)!.port);
  t.teardown(() => c.close());
  const one = (): Promise<unknown> => callOn(c, 'ModelInfer', rows(1));
  const results = await Promise.allSettled(Array.from({ length: 8 }, one));
  const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  t.ok(refused.length >= 1 && refused.length <= 6, `${refused.length} of 8 refused`);
  t.ok(
    refused.every(
      (r) =>
        (r.reason as grpc.ServiceError).code === grpc.status.UNAVAILABLE &&
        codeOf(r.reason as grpc.ServiceError) === 'OVERLOADED',
    ),
  );
});

t.test(
  'v2 error field: 401, 413 and RESPONSE_TOO_LARGE carry the message (also gzip-compressed); /classify keeps the reason',
  async (t) => {
    const unauth = await app.inject({ method: 'GET', url: '/v2/models/mixer-test' });
    t.equal(unauth.statusCode, 401);
    t.match(unauth.json(), { code: 'UNAUTHORIZED', error: unauth.json().message });
    t.not(unauth.json().error, 'Unauthorized');
    const classify = await app.inject({ method: 'POST', url: '/classify' });
    t.same(
      [classify.statusCode, classify.json().error],
      [401, 'Unauthorized'],
      '/classify keeps {statusCode, code, error, message}',
    );
    const auth = { authorization: `Bearer ${FILE}` };
    // 16 images × 10 classes × 2 JSON outputs can take ~7.7 kB, over the 4096 set here (the cap is on the uncompressed answer).
    const big = {
      inputs: [{ name: 'pixels', shape: [16, 32, 32, 3], datatype: 'UINT8', data: Array.from(noise(32, 32 * 16, 1)) }],
    };
    const capped = await app.inject({
      method: 'POST',
      url: '/v2/models/mixer-test/infer',
      headers: { ...auth, 'accept-encoding': 'gzip' },
      payload: big,
    });
    t.equal(capped.statusCode, 400);
    const j = JSON.parse(gunzipSync(capped.rawPayload).toString());
    t.equal(j.code, 'RESPONSE_TOO_LARGE');
    t.equal(j.error, j.message, 'the compressed error still has error = message');
    const huge = await app.inject({
      method: 'POST',
      url: '/v2/models/mixer-test/infer',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: Buffer.alloc(20 * 1024 * 1024, 32),
    });
    t.equal(huge.statusCode, 413);
    t.equal(huge.json().error, huge.json().message);
  },
);
