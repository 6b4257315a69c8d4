// Request log lines (successes and rejections) are capped per status and second, and what is dropped is reported; a flood writes a bounded log.
import { Writable } from 'node:stream';
import t from 'tap';
import { LogSampler } from '../../src/server/log-sampler.js';
import { testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

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
  const all = new LogSampler({ perWindow: 1, windowMs: 1000, now: () => now });
  t.same(
    [all.allow(200), all.allow(200), all.allow(500), all.allow(500)],
    [true, true, true, true],
    'by default every success',
  );
  const few = new LogSampler({ perWindow: 1, successesPerWindow: 2, windowMs: 1000, now: () => now });
  t.same(
    [few.allow(200), few.allow(200), few.allow(200), few.allow(201), few.allow(500), few.allow(500)],
    [true, true, false, true, true, true],
    'successes capped per status; server errors always written',
  );
  now = 3000;
  t.same(few.takeDropped(), { 200: 1 });
});

let lines: string[] = [];
type Line = { droppedLines?: Record<string, number> };
/** The lines that report dropped lines. */
const dropReports = (): Line[] => lines.map((l) => JSON.parse(l) as Line).filter((l) => l.droppedLines);
/** Lines of `status` dropped, over every report so far (a slow loop spans several windows, each reported). */
const dropped = (status: string): number => dropReports().reduce((n, l) => n + (l.droppedLines?.[status] ?? 0), 0);

/**
 * Sends `url` until `written` + the dropped lines of `status` reported so far reach `all`: each window's drops are
 * reported on the first line logged after it ends. Gives up after 5 s (the check that follows then shows the counts).
 */
async function untilReported(
  app: Awaited<ReturnType<typeof testApp>>,
  url: string,
  status: string,
  written: number,
  all: number,
): Promise<void> {
  await until(
    async () => {
      await app.inject({ url });
      return written + dropped(status) >= all;
    },
    5000,
    `lines reporting the dropped ${status}s`,
    100,
  ).catch(() => {});
}

const logStream = new Writable({
  write(chunk: Buffer, _enc, cb) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    cb();
  },
});

t.test('100 bad requests log about 10 lines plus a count', async (t) => {
  const app = await testApp(t, { modelPath: writeModel(t.testdir()), logger: true, logLevel: 'info', logStream });
  lines = [];
  for (let i = 0; i < 100; i++) await app.inject({ url: `/missing-${i}` });
  const completed = lines.filter((l) => l.includes('"request completed"'));
  t.ok(completed.length >= 10 && completed.length <= 30, `${completed.length} lines for 100 404s`);
  await untilReported(app, '/healthz', '404', completed.length, 100);
  t.ok(dropReports().length, 'a later line reports the dropped ones');
  t.equal(dropped('404') + completed.length, 100, 'written + dropped = all');
});

t.test('successes are sampled too (LOG_SUCCESSES, default 10 per second and status), and counted', async (t) => {
  const app = await testApp(t, { modelPath: writeModel(t.testdir()), logger: true, logLevel: 'info', logStream });
  lines = [];
  const N = 300;
  for (let i = 0; i < N; i++) await app.inject({ url: '/healthz' });
  const bytes = lines.reduce((a, l) => a + l.length + 1, 0);
  const completed = lines.filter((l) => l.includes('"request completed"'));
  t.ok(completed.length >= 10 && completed.length <= 40, `${completed.length} lines (${bytes} bytes) for ${N} 200s`);
  await untilReported(app, '/missing', '200', completed.length, N);
  t.equal(dropped('200') + completed.length, N, 'written + dropped = all');
});

t.test('LOG_SUCCESSES=0 writes no success line; server errors and rejections keep theirs', async (t) => {
  const app = await testApp(t, {
    modelPath: writeModel(t.testdir()),
    logger: true,
    logLevel: 'info',
    logStream,
    logSuccesses: 0,
  });
  lines = [];
  for (let i = 0; i < 20; i++) await app.inject({ url: '/healthz' });
  await app.inject({ url: '/missing' });
  const completed = lines.filter((l) => l.includes('"request completed"'));
  t.same(
    completed.map((l) => (JSON.parse(l) as { statusCode: number }).statusCode),
    [404],
    'only the rejection line',
  );
});
