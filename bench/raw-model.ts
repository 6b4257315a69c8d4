// The raw-model baseline of the HTTP benchmarks: batches run back to back in a worker layout, and the main-thread stall.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { WorkerPool } from '#mixer/runtime/worker-pool.js';

/**
 * The raw model in a service's layout: `workers` worker threads, each with its own session of `threads` intra-op
 * threads, each running batches of `batch` images of size×size back to back.
 */
export class RawModel {
  private readonly pixels: Uint8Array;

  static async open(
    model: string | Uint8Array,
    o: { workers: number; threads: number; batch: number; size?: number },
  ): Promise<RawModel> {
    const { WorkerPool } = await import('#mixer/runtime/worker-pool.js');
    const pool = await WorkerPool.create(model, { workers: o.workers, threads: o.threads, device: 'cpu' });
    const m = new RawModel(pool, o.workers, o.batch, o.size ?? 32);
    for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: o.workers }, () => m.runOne()));
    return m;
  }

  private constructor(
    private readonly pool: WorkerPool,
    private readonly workers: number,
    private readonly batch: number,
    private readonly size: number,
  ) {
    this.pixels = testPixels(batch, size);
  }

  /** One batch on an idle worker; the pixels are copied into a fresh buffer, as the service builds each batch. */
  private runOne(): Promise<unknown> {
    const data = this.pixels.slice();
    return this.pool.run({ pixels: { dtype: 'uint8', dims: [this.batch, this.size, this.size, 3], data } }, [
      'probabilities',
    ]);
  }

  /** Every worker runs batches for `seconds`: images/s, and this process's CPU milliseconds per image. */
  async measure(seconds: number): Promise<{ rate: number; cpuMs: number; runs: number }> {
    const cpu0 = process.cpuUsage();
    let runs = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: this.workers }, async () => {
        while (performance.now() < end) {
          await this.runOne();
          runs++;
        }
      }),
    );
    const n = runs * this.batch;
    const rate = n / ((performance.now() - t0) / 1000);
    const cpu = process.cpuUsage(cpu0);
    return { rate, cpuMs: (cpu.user + cpu.system) / 1000 / n, runs };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

function testPixels(batch: number, size: number): Uint8Array {
  return new Uint8Array(batch * size * size * 3).map((_, i) => (i * 31) & 255);
}

/** How long one batch-`batch` run holds the JS thread when it runs there (why the service runs it in workers), in ms. */
export async function mainThreadStallMs(modelPath: string, threads: number, batch: number): Promise<number> {
  const { Session } = await import('#mixer/runtime/session.js');
  const s = await Session.create(modelPath, { threads });
  try {
    const feeds = { pixels: { dtype: 'uint8' as const, dims: [batch, 32, 32, 3], data: testPixels(batch, 32) } };
    await s.run(feeds, ['probabilities']);
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    for (let i = 0; i < 3; i++) {
      await s.run(feeds, ['probabilities']);
      await new Promise((r) => setImmediate(r));
    }
    h.disable();
    return h.max / 1e6;
  } finally {
    await s.release();
  }
}
