// Data-parallel gradients: the training graph on row slices of a batch, one session per worker thread (one ORT thread each).
//
// The loss is a mean over the batch's rows and every layer works per row (LayerNorm, not BatchNorm), so the batch's
// loss and gradients are the row-count-weighted means of the slices' own: the same step as one session on the whole
// batch, up to float summation order. Small GEMMs split poorly over a session's threads; whole sessions side by side
// do not share anything, which is what makes this faster on several cores.
import { LOGITS } from '../model/io-names.js';
import type { HostTensor } from '../runtime/session.js';
import { WorkerPool } from '../runtime/worker-pool.js';

/** The most worker sessions a step is split over (a batch of 128 gives each at least 16 rows). */
export const MAX_WORKERS = 8;

export interface Gradients {
  loss: number;
  /** [n, K] logits of the whole batch, in row order. */
  logits: Float32Array;
  /** Gradient of the batch's mean loss, by parameter name. */
  grads: Map<string, Float32Array>;
}

/** Row ranges [start, end) splitting n rows into at most `parts` nearly equal, non-empty slices. */
export function rowSlices(n: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(parts, n));
  const base = Math.floor(n / k);
  const extra = n % k;
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const end = start + base + (i < extra ? 1 : 0);
    out.push([start, end]);
    start = end;
  }
  return out;
}

/** Rows [start, end) of a tensor whose first dimension is the batch, as a copy in its own buffer. */
function rows(t: HostTensor, start: number, end: number): HostTensor {
  const n = t.dims[0]!;
  const data = t.data as Float32Array | Uint8Array | BigInt64Array;
  const per = data.length / n;
  return { dtype: t.dtype, dims: [end - start, ...t.dims.slice(1)], data: data.slice(start * per, end * per) };
}

/** A copy in its own buffer: the pool moves each feed's buffer to its worker. */
function copy(t: HostTensor): HostTensor {
  return { dtype: t.dtype, dims: t.dims, data: (t.data as Float32Array).slice() };
}

export class DataParallel {
  private constructor(
    private readonly pool: WorkerPool,
    readonly workers: number,
  ) {}

  /**
   * Worker threads with a session of the training graph `model` each, for `threads` threads in all: one per thread,
   * up to MAX_WORKERS (more threads go to the workers' sessions), so that a batch is not cut into slivers.
   */
  static async create(model: Uint8Array, threads: number): Promise<DataParallel> {
    const workers = Math.max(1, Math.min(threads, MAX_WORKERS));
    const perWorker = Math.max(1, Math.floor(threads / workers));
    return new DataParallel(
      await WorkerPool.create(model, { workers, threads: perWorker, memPattern: false }),
      workers,
    );
  }

  /**
   * Runs the training graph on slices of the batch: `perRow` feeds have the batch as their first dimension (pixels,
   * labels or targets, drop-path masks), `shared` ones go whole to every slice (the parameters).
   */
  async run(
    n: number,
    perRow: Record<string, HostTensor>,
    shared: Record<string, HostTensor>,
    gradNames: readonly string[],
  ): Promise<Gradients> {
    for (const [name, t] of Object.entries(perRow))
      if (t.dims[0] !== n) throw new Error(`${name}: first dimension ${t.dims[0]} is not the batch size ${n}`);
    const slices = rowSlices(n, this.workers);
    const outs = await Promise.all(
      slices.map(([start, end]) => {
        const feeds: Record<string, HostTensor> = {};
        for (const [name, t] of Object.entries(perRow)) feeds[name] = rows(t, start, end);
        for (const [name, t] of Object.entries(shared)) feeds[name] = copy(t);
        return this.pool.run(feeds, ['loss', LOGITS, ...gradNames.map((g) => `${g}_grad`)]);
      }),
    );
    let loss = 0;
    const grads = new Map<string, Float32Array>();
    const logitParts: Float32Array[] = [];
    outs.forEach(({ outputs }, i) => {
      const [start, end] = slices[i]!;
      const w = (end - start) / n;
      loss += w * (outputs['loss']!.data as Float32Array)[0]!;
      logitParts.push(outputs[LOGITS]!.data as Float32Array);
      for (const name of gradNames) {
        const g = outputs[`${name}_grad`]!.data as Float32Array;
        const acc = grads.get(name);
        if (!acc) {
          for (let j = 0; j < g.length; j++) g[j] = g[j]! * w;
          grads.set(name, g);
        } else for (let j = 0; j < g.length; j++) acc[j] = acc[j]! + w * g[j]!;
      }
    });
    const logits = new Float32Array(logitParts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of logitParts) {
      logits.set(p, at);
      at += p.length;
    }
    return { loss, logits, grads };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
