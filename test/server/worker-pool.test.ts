// Tests for WorkerPool: same outputs as an in-process session, failed runs and crashed workers do not take the pool down.
import t from 'tap';
import { cudaProviderInstalled, RuntimeError, Session } from '../../src/runtime/session.js';
import { WorkerPool } from '../../src/runtime/worker-pool.js';
import { noise, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const modelPath = writeModel(t.testdir());
const feeds = (n: number) => ({
  pixels: { dtype: 'uint8' as const, dims: [n, 32, 32, 3], data: new Uint8Array(noise(32, 32 * n, 2)) },
});

t.test('outputs equal a session run on the main thread', async (t) => {
  const pool = await WorkerPool.create(modelPath, { threads: 1, workers: 2 });
  t.teardown(() => pool.close());
  t.equal(pool.provider, 'cpu');
  t.equal(pool.size, 2);
  t.equal(pool.idle, 2);
  t.same([...pool.outputNames].sort(), ['logits', 'probabilities']);
  const s = await Session.create(modelPath, { threads: 1 });
  const want = await s.run(feeds(3));
  await s.release();
  const [a, b] = await Promise.all([pool.run(feeds(3)), pool.run(feeds(3), ['probabilities'])]);
  t.same(a.outputs['logits']!.dims, [3, 10]);
  t.same(Array.from(a.outputs['logits']!.data as Float32Array), Array.from(want['logits']!.data as Float32Array));
  t.same(Object.keys(b.outputs), ['probabilities']);
  t.ok(a.ms > 0);
  const busy = await pool.run(feeds(1)).then(() => pool.idle);
  t.equal(busy, 2, 'idle again');
});

t.test('a failed run is rejected and the worker keeps serving', async (t) => {
  const pool = await WorkerPool.create(modelPath, { threads: 1 });
  t.teardown(() => pool.close());
  const bad = { pixels: { dtype: 'uint8' as const, dims: [1, 16, 16, 3], data: new Uint8Array(16 * 16 * 3) } };
  await t.rejects(pool.run(bad), { name: 'RuntimeError', code: 'RUN_FAILED' });
  t.same((await pool.run(feeds(1))).outputs['probabilities']!.dims, [1, 10]);
  await t.rejects(Promise.all([pool.run(feeds(1)), pool.run(feeds(1))]), { code: 'BUSY' }, 'one job per worker');
});

t.test('a crashed worker fails its run and is replaced', async (t) => {
  const pool = await WorkerPool.create(modelPath, { threads: 1 });
  t.teardown(() => pool.close());
  const slot = (pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots[0]!;
  // The worker is told to stop before the run reaches it: the run is in flight on the pool's side when its worker
  // dies, but no ONNX Runtime run is under way in the thread (terminating a thread inside one can abort the whole
  // process in onnxruntime-node, which is not what this test is about).
  const exited = slot.worker.terminate();
  const running = pool.run(feeds(1));
  await t.rejects(running, { code: 'WORKER_CRASHED' });
  await exited;
  await until(() => pool.idle > 0, 60_000, 'the replacement to load and warm up its model', 20);
  t.equal(pool.idle, 1, 'a fresh worker took its place');
  t.same((await pool.run(feeds(1))).outputs['logits']!.dims, [1, 10]);
});

t.test('start failures: bad model, missing CUDA; close rejects runs', async (t) => {
  await t.rejects(WorkerPool.create(new Uint8Array([1, 2, 3]), {}), { name: 'RuntimeError', code: 'BAD_MODEL' });
  if (!cudaProviderInstalled()) {
    const e = await WorkerPool.create(modelPath, { device: 'cuda' }).catch((x: unknown) => x);
    t.type(e, RuntimeError);
    t.equal((e as RuntimeError).code, 'CUDA_UNAVAILABLE');
  }
  const pool = await WorkerPool.create(modelPath, { threads: 1 });
  await pool.close();
  await t.rejects(pool.run(feeds(1)), { code: 'CLOSED' });
});
