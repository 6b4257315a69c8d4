// The inference engine: worker-thread ORT sessions behind the micro-batcher, warmed up before the service reports ready.
import { WorkerPool } from '../runtime/worker-pool.js';
import { type BatchStats, MicroBatcher } from './batcher.js';
import type { ServerConfig } from './config.js';
import type { ServedModel } from './model.js';

/** The engine's share of the service configuration. */
export interface EngineOptions extends Pick<ServerConfig, 'device' | 'threads' | 'workers' | 'maxBatch' | 'batchDelayMs' | 'maxQueue'> {
  onBatch?: (s: BatchStats) => void;
}

export type Outputs = { logits: Float32Array; probabilities: Float32Array };

export class Engine {
  private constructor(
    readonly model: ServedModel,
    private readonly pool: WorkerPool,
    private readonly batcher: MicroBatcher,
    /** Milliseconds to open the sessions and to warm them up. */
    readonly timings: { loadMs: number; warmupMs: number },
  ) {}

  /** Opens the sessions (failing fast on a missing CUDA provider) and warms every worker with a full batch and a single image. */
  static async start(model: ServedModel, o: EngineOptions): Promise<Engine> {
    const t0 = performance.now();
    const pool = await WorkerPool.create(model.bytes, { device: o.device, threads: o.threads, workers: o.workers });
    const t1 = performance.now();
    const runner = {
      get idle() {
        return pool.idle;
      },
      async run(pixels: Uint8Array, n: number) {
        const s = model.size;
        const r = await pool.run({ pixels: { dtype: 'uint8', dims: [n, s, s, 3], data: pixels } }, ['logits', 'probabilities']);
        const outputs: Record<string, Float32Array> = {};
        for (const [k, t] of Object.entries(r.outputs)) outputs[k] = t.data as Float32Array;
        return { outputs, ms: r.ms };
      },
    };
    try {
      for (const n of [o.maxBatch, 1]) {
        await Promise.all(Array.from({ length: pool.size }, () => runner.run(new Uint8Array(n * model.imageBytes), n)));
      }
    } catch (e) {
      await pool.close();
      throw e;
    }
    const t2 = performance.now();
    const batcher = new MicroBatcher(runner, {
      maxBatch: o.maxBatch,
      delayMs: o.batchDelayMs,
      maxQueue: o.maxQueue,
      imageBytes: model.imageBytes,
      ...(o.onBatch ? { onBatch: o.onBatch } : {}),
    });
    return new Engine(model, pool, batcher, { loadMs: t1 - t0, warmupMs: t2 - t1 });
  }

  get provider(): 'cpu' | 'cuda' {
    return this.pool.provider;
  }

  get queueDepth(): number {
    return this.batcher.depth;
  }

  /** Classifies `count` decoded images (count × imageBytes); rejects with OVERLOADED when the queue is full. */
  async infer(pixels: Uint8Array, count = 1): Promise<Outputs> {
    const r = await this.batcher.submit(pixels, count);
    return { logits: r['logits']!, probabilities: r['probabilities']! };
  }

  /** Waits for queued and running batches, then stops the workers. */
  async close(): Promise<void> {
    await this.batcher.drain();
    await this.pool.close();
  }
}
