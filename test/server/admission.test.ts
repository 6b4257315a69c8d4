// Whole-request admission: while the service is full, infer requests are refused (503) without decoding; a multi-image request is never half run.
import net from 'node:net';
import t from 'tap';
import { Admission } from '../../src/server/admission.js';
import { listenLocal } from '../fixtures/listen.js';
import { image, multipart, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir(), 'cifar10-s4');
const app = await testApp(t, { modelPath, maxBatch: 2, batchDelayMs: 0, maxQueue: 4 });
const { port, url } = await listenLocal(app);
const png = await image('png');
const garbage = Buffer.from('this is not an image at all, just text');
const imagesRun = async (): Promise<number> =>
  Number(/mixer_images_classified_total(?:\{[^}]*\})? (\d+)/.exec((await app.inject('/metrics')).body)?.[1] ?? 0);

t.test('Admission counts whole requests', async (t) => {
  const a = new Admission(4);
  const r1 = a.admit(3);
  t.throws(() => a.admit(2), { code: 'OVERLOADED' });
  const r2 = a.admit(1);
  t.ok(a.full);
  r1();
  r1();
  t.equal(a.images, 1, 'a release counts once');
  r2();
  t.throws(() => a.admit(5), { code: 'TOO_MANY_IMAGES' }, 'more than the capacity can never fit');
});

t.test('while full, requests are refused before decoding: garbage gets 503, not 400', async (t) => {
  const hold = app.mixer.admission.admit(4);
  const before = await imagesRun();
  const raw = await fetch(`${url}/classify`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: garbage,
  });
  t.equal(raw.status, 503, 'a corrupt image is not even looked at');
  t.equal(raw.headers.get('retry-after'), '1');
  t.match(await raw.json(), { statusCode: 503, code: 'OVERLOADED', error: 'Service Unavailable' });
  const form = multipart([
    { filename: 'a.png', data: garbage },
    { filename: 'b.png', data: png },
  ]);
  const m = await fetch(`${url}/classify`, { method: 'POST', headers: form.headers, body: form.payload });
  t.equal(m.status, 503);
  const v2 = await fetch(`${url}/v2/models/mixer-test/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"inputs": "not even a tensor"',
  });
  t.equal(v2.status, 503, 'an unparsable v2 body is not parsed either');
  const v2Body = (await v2.json()) as { code: string; error: string; message: string };
  t.equal(v2Body.code, 'OVERLOADED');
  t.equal(v2Body.error, v2Body.message, 'on /v2 the error field is the message, as Triton clients read it');
  // A request whose 10 MB body never comes is answered from its headers alone.
  const early = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.includes('\r\n\r\n')) s.destroy();
    });
    s.on('close', () => resolve(got));
    s.write('POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 10000000\r\n\r\n');
  });
  t.match(early, /^HTTP\/1\.1 503 /, 'refused without reading the body');
  t.equal(await imagesRun(), before, 'nothing ran');
  hold();
  const after = await fetch(`${url}/classify`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: garbage,
  });
  t.equal(after.status, 400, 'with room again, the garbage is decoded and refused as such');
  t.match(await after.json(), { code: 'NOT_AN_IMAGE' });
  const metrics = (await app.inject('/metrics')).body;
  t.match(metrics, /mixer_requests_shed_total [4-9]/);
  // Refused before Fastify, each is counted under its route's pattern (what the route's own config names).
  t.match(metrics, /mixer_http_requests_total\{route="\/v2\/models\/:name\/infer",method="POST",status="503"\} [1-9]/);
  t.match(metrics, /mixer_http_requests_total\{route="\/classify",method="POST",status="503"\} 3\n/);
});

t.test('a burst of 3-image requests: each is run whole or refused whole', async (t) => {
  const before = await imagesRun();
  const form = multipart([0, 1, 2].map((i) => ({ filename: `${i}.png`, data: png })));
  const rs = await Promise.all(
    Array.from({ length: 12 }, () =>
      fetch(`${url}/classify?top=1`, { method: 'POST', headers: form.headers, body: form.payload }),
    ),
  );
  const bodies = await Promise.all(rs.map((r) => r.json() as Promise<{ results?: unknown[]; code?: string }>));
  const ok = bodies.filter((_, i) => rs[i]!.status === 200);
  t.ok(ok.length > 0, `${ok.length} answered`);
  t.ok(
    rs.every((r) => r.status === 200 || r.status === 503),
    `statuses ${rs.map((r) => r.status)}`,
  );
  t.ok(
    ok.every((b) => b.results!.length === 3),
    'every answer has all three results',
  );
  t.equal(await imagesRun(), before + 3 * ok.length, 'the model ran exactly the images of the answered requests');
  t.equal(app.mixer.admission.images, 0, 'every reservation was released');
});

t.test('more images than MAX_QUEUE in one request: 413 TOO_MANY_IMAGES', async (t) => {
  const form = multipart([0, 1, 2, 3, 4].map((i) => ({ filename: `${i}.png`, data: png })));
  const r = await fetch(`${url}/classify`, { method: 'POST', headers: form.headers, body: form.payload });
  t.equal(r.status, 413);
  t.match(await r.json(), { code: 'TOO_MANY_IMAGES' });
});

t.test(
  'while full and draining, an infer request is not parked: 503 SHUTTING_DOWN with Connection: close at once',
  async (t) => {
    const hold = app.mixer.admission.admit(4);
    app.mixer.state.closing = true;
    t.teardown(() => {
      app.mixer.state.closing = false;
      hold();
    });
    const t0 = performance.now();
    const r = await fetch(`${url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: garbage,
    });
    const ms = performance.now() - t0;
    t.equal(r.status, 503);
    t.equal(r.headers.get('connection'), 'close', 'the load balancer is told to use another connection');
    t.match(await r.json(), { code: 'SHUTTING_DOWN' });
    t.ok(ms < 500, `answered in ${ms.toFixed(0)} ms, not after the 1 s park`);
  },
);
