// 503 + Retry-After when the queue is full, while the requests already queued are still answered.
import t from 'tap';
import { image, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir(), 'cifar10-s4');
const app = await testApp(t, { modelPath, maxBatch: 1, batchDelayMs: 0, maxQueue: 2 });

t.test('a burst beyond MAX_QUEUE is shed with 503', async (t) => {
  const png = await image('png');
  const rs = await Promise.all(
    Array.from({ length: 24 }, () =>
      app.inject({ method: 'POST', url: '/classify', headers: { 'content-type': 'image/png' }, payload: png }),
    ),
  );
  const codes = rs.map((r) => r.statusCode);
  t.ok(codes.includes(200), `some answered: ${codes}`);
  t.ok(codes.includes(503), `some shed: ${codes}`);
  t.ok(
    codes.every((c) => c === 200 || c === 503),
    'nothing else',
  );
  const shed = rs.find((r) => r.statusCode === 503)!;
  t.equal(shed.headers['retry-after'], '1');
  t.match(shed.json(), { statusCode: 503, code: 'OVERLOADED', error: 'Service Unavailable' });
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  t.match(metrics, /mixer_requests_shed_total [1-9]/);
  t.match(metrics, /mixer_http_requests_total\{route="\/classify",method="POST",status="503"\} [1-9]/);
  const after = await app.inject({
    method: 'POST',
    url: '/classify',
    headers: { 'content-type': 'image/png' },
    payload: png,
  });
  t.equal(after.statusCode, 200, 'recovers once the burst is over');
});
