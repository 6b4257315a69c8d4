// The request path's counters and histograms print exactly what prom-client's own Counter and Histogram print for the same calls (both text formats), and refuse what they refuse.
import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { FastCounter, FastHistogram } from '../../src/server/observe/series.js';

const BOUNDS = [0.0001, 0.001, 0.01, 0.1, 1, 10];

/** A deterministic stream of values: zeros, exact bounds, between them, above every bound. */
function* values(n: number): Generator<number> {
  let x = 7;
  for (let i = 0; i < n; i++) {
    x = (x * 48271) % 2147483647;
    const pick = x % 5;
    yield pick === 0 ? 0 : pick === 1 ? BOUNDS[x % BOUNDS.length]! : pick === 2 ? 42 + (x % 9) : (x % 100000) / 1e6;
  }
}

function pair(contentType: string) {
  const [ours, theirs] = [new Registry(), new Registry()];
  for (const r of [ours, theirs]) r.setContentType(contentType as never);
  const labelNames = ['model', 'version', 'stage'] as const;
  const h = new FastHistogram('t_stage_seconds', 'stage time', labelNames, BOUNDS, ours);
  const ph = new Histogram({
    name: 't_stage_seconds',
    help: 'stage time',
    labelNames,
    buckets: BOUNDS,
    registers: [theirs],
  });
  const c = new FastCounter('t_requests_total', 'requests', ['route', 'status'], ours);
  const pc = new Counter({
    name: 't_requests_total',
    help: 'requests',
    labelNames: ['route', 'status'],
    registers: [theirs],
  });
  const bare = new FastCounter('t_shed_total', 'shed', [], ours);
  const pbare = new Counter({ name: 't_shed_total', help: 'shed', registers: [theirs] });
  return { ours, theirs, h, ph, c, pc, bare, pbare };
}

for (const contentType of [Registry.PROMETHEUS_CONTENT_TYPE, Registry.OPENMETRICS_CONTENT_TYPE]) {
  t.test(`the same text as prom-client (${contentType.split(';')[0]})`, async (t) => {
    const m = pair(contentType);
    t.equal(await m.ours.metrics(), await m.theirs.metrics(), 'before any call: the unlabelled counter at 0');
    let i = 0;
    for (const v of values(3000)) {
      // Label values with characters the text format escapes, and labels given in different key orders.
      const model = ['a', 'b"q', 'c\\d\ne'][i % 3]!;
      const stage = ['decode', 'total'][i % 2]!;
      const labels = i % 4 === 0 ? { stage, version: '1', model } : { model, version: '1', stage };
      m.h.observe(labels, v);
      m.ph.observe(labels, v);
      const route = { route: '/v2/models/:name/infer', status: String(200 + (i % 3)) };
      m.c.inc(route);
      m.pc.inc(route);
      if (i % 7 === 0) {
        m.c.inc(route, 2.5);
        m.pc.inc(route, 2.5);
        m.bare.inc();
        m.pbare.inc();
      }
      i++;
    }
    m.bare.inc(3);
    m.pbare.inc(3);
    const [ours, theirs] = [await m.ours.metrics(), await m.theirs.metrics()];
    t.equal(ours, theirs);
    t.match(ours, /t_stage_seconds_bucket\{le="\+Inf",model="b\\"q",version="1",stage="total"\} \d+/);
    // prom-client's JSON also carries each bucket's exemplar slot (null: exemplars are off, as in the service).
    const withoutExemplars = (ms: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      ms.map((x) => ({
        ...x,
        values: x.values.map((v) => {
          const { exemplar: _, ...rest } = v as typeof v & { exemplar?: unknown };
          return rest;
        }),
      }));
    t.strictSame(
      await m.ours.getMetricsAsJSON(),
      withoutExemplars(await m.theirs.getMetricsAsJSON()),
      'the JSON form too',
    );
    m.ours.resetMetrics();
    m.theirs.resetMetrics();
    t.equal(await m.ours.metrics(), await m.theirs.metrics(), 'after a reset');
  });
}

t.test('refuses what prom-client refuses', async (t) => {
  const r = new Registry();
  const h = new FastHistogram('t_h', 'h', ['model'], BOUNDS, r);
  const c = new FastCounter('t_c_total', 'c', ['model'], r);
  t.throws(() => h.observe({ model: 'a' }, Number.NaN), TypeError);
  t.throws(() => h.observe({ model: 'a' }, Number.POSITIVE_INFINITY), TypeError);
  t.throws(() => c.inc({ model: 'a' }, -1), /decrease/);
  t.throws(() => h.observe({ model: 'a', other: 'x' } as never, 1), /not included/);
  t.throws(() => new FastHistogram('t_h2', 'h', [], [1, 1], r), /ascend/);
  t.throws(() => new FastCounter('t_c_total', 'again', [], r), /already been registered/);
  t.notMatch(await r.metrics(), /t_h_count|t_c_total\{/, 'refused calls make no series');
  // A number from a JavaScript caller names the same series as its string, as in prom-client.
  c.inc({ model: 1 as unknown as string });
  c.inc({ model: '1' });
  t.match(await r.metrics(), /^t_c_total\{model="1"\} 2$/m);
});
