// Tests for MicroBatcher: batches by size and by delay, keeps the worker busy, sheds load when full, isolates failures.
import t from 'tap';
import { type BatchRunner, type BatchStats, MicroBatcher } from '../../src/server/batcher.js';
import { ServiceError } from '../../src/server/errors.js';

const PER = 2; // bytes per "image"

/** A runner whose runs finish when the test says so; output row i = [first byte of image i, n]. */
function fakeRunner(workers = 1) {
  const runs: { n: number; pixels: Uint8Array; finish: (fail?: Error) => void }[] = [];
  let busy = 0;
  const runner: BatchRunner = {
    get idle() {
      return workers - busy;
    },
    workers,
    run(pixels, n) {
      busy++;
      return new Promise((resolve, reject) => {
        runs.push({
          n,
          pixels,
          finish: (fail) => {
            busy--;
            if (fail) return reject(fail);
            const out = new Float32Array(n * 2);
            for (let i = 0; i < n; i++) out.set([pixels[i * PER]!, n], i * 2);
            resolve({ outputs: { out }, ms: 1 });
          },
        });
      });
    },
  };
  return { runner, runs };
}

const img = (v: number, count = 1): Uint8Array => new Uint8Array(count * PER).fill(v);
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('a full batch goes at once; each item gets its own rows', async (t) => {
  const { runner, runs } = fakeRunner();
  const b = new MicroBatcher(runner, { maxBatch: 4, delayMs: 10_000, maxQueue: 100, imageBytes: PER });
  const ps = [1, 2, 3, 4].map((v) => b.submit(img(v)));
  t.equal(runs.length, 1, 'dispatched without waiting for the delay');
  t.equal(runs[0]!.n, 4);
  runs[0]!.finish();
  const rs = await Promise.all(ps);
  t.same(
    rs.map((r) => Array.from(r['out']!)),
    [
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ],
  );
});

t.test('a partial batch waits for the delay', async (t) => {
  const { runner, runs } = fakeRunner();
  const b = new MicroBatcher(runner, { maxBatch: 8, delayMs: 30, maxQueue: 100, imageBytes: PER });
  const p = Promise.all([b.submit(img(5)), b.submit(img(6))]);
  await tick(5);
  t.equal(runs.length, 0, 'not yet');
  await tick(60);
  t.equal(runs.length, 1);
  t.equal(runs[0]!.n, 2);
  runs[0]!.finish();
  await p;
});

t.test('while the worker is busy, arrivals queue and go together as soon as it is free', async (t) => {
  const { runner, runs } = fakeRunner();
  const stats: BatchStats[] = [];
  const b = new MicroBatcher(runner, {
    maxBatch: 4,
    delayMs: 0,
    maxQueue: 100,
    imageBytes: PER,
    onBatch: (s) => stats.push(s),
  });
  const first = b.submit(img(1));
  await tick(5);
  t.equal(runs.length, 1);
  const rest = [2, 3, 4, 5, 6].map((v) => b.submit(img(v)));
  t.equal(b.depth, 5);
  await tick(5);
  t.equal(runs.length, 1, 'no second run while the only worker is busy');
  runs[0]!.finish();
  await first;
  t.equal(runs.length, 2);
  t.equal(runs[1]!.n, 4, 'capped at maxBatch');
  runs[1]!.finish();
  await tick(1);
  t.equal(runs.length, 3);
  t.equal(runs[2]!.n, 1);
  runs[2]!.finish();
  await Promise.all(rest);
  t.same(
    stats.map((s) => s.size),
    [1, 4, 1],
  );
  t.equal(stats[1]!.queueMs.length, 4);
});

t.test('items of several images stay whole and are sliced back', async (t) => {
  const { runner, runs } = fakeRunner();
  const b = new MicroBatcher(runner, { maxBatch: 4, delayMs: 0, maxQueue: 100, imageBytes: PER });
  const pixels = new Uint8Array([7, 7, 8, 8, 9, 9]);
  const a = b.submit(pixels, 3);
  const c = b.submit(img(1), 1);
  await tick(2);
  t.equal(runs[0]!.n, 4);
  runs[0]!.finish();
  t.same(Array.from((await a)['out']!), [7, 4, 8, 4, 9, 4]);
  t.same(Array.from((await c)['out']!), [1, 4]);
  await t.rejects(b.submit(new Uint8Array(3)), RangeError, 'wrong byte count');
});

t.test('a full queue rejects with OVERLOADED; queued work still completes', async (t) => {
  const { runner, runs } = fakeRunner();
  const b = new MicroBatcher(runner, { maxBatch: 2, delayMs: 0, maxQueue: 3, imageBytes: PER });
  const running = b.submit(img(1));
  await tick(2);
  const queued = [b.submit(img(2)), b.submit(img(3)), b.submit(img(4))];
  const err = await b.submit(img(5)).catch((e: unknown) => e);
  t.type(err, ServiceError);
  t.equal((err as ServiceError).code, 'OVERLOADED');
  t.equal((err as ServiceError).statusCode, 503);
  runs[0]!.finish();
  await running;
  await tick(1);
  runs[1]!.finish();
  await tick(1);
  runs[2]!.finish();
  t.equal((await Promise.all(queued)).length, 3);
});

t.test('a failed run rejects only its own batch', async (t) => {
  const { runner, runs } = fakeRunner();
  const b = new MicroBatcher(runner, { maxBatch: 1, delayMs: 0, maxQueue: 10, imageBytes: PER });
  const p1 = b.submit(img(1));
  const p2 = b.submit(img(2));
  await tick(2);
  runs[0]!.finish(new Error('boom'));
  await t.rejects(p1, /boom/);
  await tick(1);
  runs[1]!.finish();
  t.same(Array.from((await p2)['out']!), [2, 1]);
});

t.test('two workers run two batches at once; drain waits for both', async (t) => {
  const { runner, runs } = fakeRunner(2);
  const b = new MicroBatcher(runner, { maxBatch: 2, delayMs: 0, maxQueue: 10, imageBytes: PER });
  const ps = [1, 2, 3, 4].map((v) => b.submit(img(v)));
  await tick(2);
  t.same(
    runs.map((r) => r.n),
    [1, 1],
    'the first full batch is shared by the two idle workers',
  );
  t.equal(b.inflight, 2);
  let drained = false;
  const d = b.drain().then(() => (drained = true));
  await tick(2);
  t.notOk(drained);
  runs[0]!.finish();
  runs[1]!.finish();
  await tick(2);
  t.same(
    runs.map((r) => r.n),
    [1, 1, 2],
    'the rest went as soon as a worker was free',
  );
  t.notOk(drained, 'drain waits for it too');
  runs[2]!.finish();
  await d;
  await Promise.all(ps);
  t.equal(b.inflight, 0);
  await b.drain();
});

t.test('layouts: items whose layouts share a key share a run, which gets the layout object itself', async (t) => {
  interface L {
    key: string;
    rowBytes: number;
  }
  const seen: (L | undefined)[] = [];
  const runner: BatchRunner<L> = {
    idle: 1,
    async run(pixels, n, layout) {
      seen.push(layout);
      return {
        outputs: { out: Float32Array.from({ length: n }, (_, i) => pixels[i * (layout?.rowBytes ?? PER)]!) },
        ms: 1,
      };
    },
  };
  const b = new MicroBatcher<L>(runner, { maxBatch: 8, delayMs: 5, maxQueue: 100, imageBytes: PER });
  // Two distinct objects with one key, then another key, then plain images: three runs.
  const a1 = b.submitWithLayout(new Uint8Array([1, 0, 0]), 1, { key: 'k3', rowBytes: 3 });
  const a2 = b.submitWithLayout(new Uint8Array([2, 0, 0, 3, 0, 0]), 2, { key: 'k3', rowBytes: 3 });
  const c = b.submitWithLayout(new Uint8Array([4, 0, 0, 0]), 1, { key: 'k4', rowBytes: 4 });
  const d = b.submit(img(5));
  t.same(Array.from((await a1).outputs['out'] as Float32Array), [1]);
  t.same(Array.from((await a2).outputs['out'] as Float32Array), [2, 3]);
  t.same(Array.from((await c).outputs['out'] as Float32Array), [4]);
  t.same(Array.from((await d)['out']!), [5]);
  t.same(seen, [{ key: 'k3', rowBytes: 3 }, { key: 'k4', rowBytes: 4 }, undefined], 'one run per key, images last');
});

t.test(
  'with several workers a batch takes an even share of the images queued and running, not the whole queue',
  async (t) => {
    const { runner, runs } = fakeRunner(2);
    const b = new MicroBatcher(runner, { maxBatch: 32, delayMs: 0, maxQueue: 100, imageBytes: PER });
    const first = [1, 2, 3, 4].map((v) => b.submit(img(v)));
    await tick(2);
    t.same(
      runs.map((r) => r.n),
      [2, 2],
      'two idle workers split four images',
    );
    runs[0]!.finish();
    await Promise.all(first.slice(0, 2));
    // 28 arrive while the second worker still runs 2: the free worker takes half of the 30, not all 28.
    const more = Array.from({ length: 28 }, (_, i) => b.submit(img(10 + i)));
    await tick(2);
    t.equal(runs[2]!.n, 15);
    t.equal(b.depth, 13, 'the rest waits for the other worker');
    runs[1]!.finish();
    await tick(2);
    t.equal(runs[3]!.n, 13, 'which takes it as soon as it is free');
    runs[2]!.finish();
    runs[3]!.finish();
    const rows = await Promise.all(more);
    t.same(
      rows.map((r) => r['out']![0]),
      Array.from({ length: 28 }, (_, i) => 10 + i),
      'every item gets its own row back',
    );
    await b.drain();
  },
);

t.test('one worker still takes up to maxBatch at once', async (t) => {
  const { runner, runs } = fakeRunner(1);
  const b = new MicroBatcher(runner, { maxBatch: 32, delayMs: 0, maxQueue: 100, imageBytes: PER });
  const ps = Array.from({ length: 20 }, (_, i) => b.submit(img(i)));
  await tick(2);
  t.same(
    runs.map((r) => r.n),
    [20],
  );
  runs[0]!.finish();
  await Promise.all(ps);
});
