// Rejection log lines are capped per status and second, and what is dropped is reported; a 503 flood writes a bounded log.
import { Writable } from 'node:stream';
import t from 'tap';
import { LogSampler } from '../../src/server/log-sampler.js';
import { testApp, writeModel } from '../fixtures/server.js';

t.test('LogSampler: N lines per status and window, then counts', async (t) => {
  let now = 0;
  const s = new LogSampler({ perWindow: 2, windowMs: 1000, now: () => now });
  t.same(
    [s.allow(404), s.allow(404), s.allow(404), s.allow(400), s.allow(200), s.allow(200), s.allow(200)],
    [true, true, false, true, true, true, true],
  );
  t.equal(s.takeDropped(), null, 'nothing to report before the window ends');
  now = 1500;
  t.same(s.takeDropped(), { 404: 1 });
  t.equal(s.takeDropped(), null, 'reported once');
  t.ok(s.allow(404), 'a new window writes again');
});

t.test('100 bad requests log about 10 lines plus a count', async (t) => {
  let lines: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const app = await testApp(t, { modelPath: writeModel(t.testdir()), logger: true, logLevel: 'info', logStream });
  lines = [];
  for (let i = 0; i < 100; i++) await app.inject({ url: `/missing-${i}` });
  const completed = lines.filter((l) => l.includes('"request completed"'));
  t.ok(completed.length >= 10 && completed.length <= 30, `${completed.length} lines for 100 404s`);
  await new Promise((r) => setTimeout(r, 1100));
  await app.inject({ url: '/healthz' });
  const report = lines
    .map((l) => JSON.parse(l) as { droppedLines?: Record<string, number> })
    .find((l) => l.droppedLines);
  t.ok(report, 'a later line reports the dropped ones');
  t.equal((report?.droppedLines?.['404'] ?? 0) + completed.length, 100, 'written + dropped = all');
});
