// Dynamic micro-batcher: queues images until MAX_BATCH or BATCH_DELAY_MS, then makes one model run per batch on an idle worker, sharing the queue evenly among workers.
import type { TensorData } from '../runtime/session.js';
import { overloaded } from './errors.js';
import type { BatchClock } from './observe/stage-clock.js';
import type { RequestTrace, SpanHandle } from './observe/tracing.js';

/** An output tensor's values, row after row: a typed array, or strings for string tensors. */
export type OutputValues = TensorData;

/** A row layout the batcher can group by: items whose layouts have the same `key` share a batch. */
export interface KeyedLayout {
  readonly key: string;
}

/**
 * Runs n images (n × imageBytes, uint8 HWC) and returns each output as n × K values. Items submitted with a layout
 * are passed it (the batch's items all have its key); the runner may return each output's dims.
 */
export interface BatchRunner<L extends KeyedLayout = KeyedLayout> {
  run(
    pixels: Uint8Array,
    n: number,
    layout?: L,
  ): Promise<{
    outputs: Record<string, OutputValues>;
    ms: number;
    dims?: Record<string, readonly number[]>;
    /** The worker (thread id) that ran it, for the batch span. */
    worker?: number;
  }>;
  /** Batches the runner can start right now. */
  readonly idle: number;
  /** Workers it has in all, busy or not (default 1); with several, batches share the queue evenly among them. */
  readonly workers?: number;
}

export interface BatchStats {
  size: number;
  /** Milliseconds each item waited in the queue. */
  queueMs: number[];
  /** Rows (images) of each item, in the order of queueMs. */
  rows: number[];
  /** Milliseconds of the model run (inside the worker). */
  inferenceMs: number;
  /** The batcher's maxBatch (size / maxBatch: how full the batch was). */
  maxBatch: number;
}

export interface BatcherOptions {
  maxBatch: number;
  delayMs: number;
  /** Images allowed to wait; beyond it submit() rejects with OVERLOADED (503). */
  maxQueue: number;
  imageBytes: number;
  onBatch?: (s: BatchStats) => void;
}

/** One item's share of a batch: its rows of every output, and their dims (first dim: its count). */
export interface ItemResult {
  outputs: Record<string, OutputValues>;
  dims: Record<string, number[]>;
}

interface Item<L> {
  pixels: Uint8Array;
  count: number;
  /** null for images (submit). */
  layout: L | null;
  queuedAt: number;
  /** Hears the item's queue wait and its batch's run (the request's stage timings). */
  clock: BatchClock | undefined;
  resolve: (result: ItemResult) => void;
  reject: (e: Error) => void;
}

export class MicroBatcher<L extends KeyedLayout = KeyedLayout> {
  private queue: Item<L>[] = [];
  private queued = 0;
  private running = 0;
  /** Images in the batches running now. */
  private runningRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private due = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly runner: BatchRunner<L>,
    private readonly opts: BatcherOptions,
  ) {}

  /** Images waiting for a batch. */
  get depth(): number {
    return this.queued;
  }

  /** Batches running now. */
  get inflight(): number {
    return this.running;
  }

  /** Queues `count` images (count × imageBytes); resolves with this item's rows of every output. */
  async submit(pixels: Uint8Array, count = 1, clock?: BatchClock): Promise<Record<string, Float32Array>> {
    if (pixels.length !== count * this.opts.imageBytes) {
      throw new RangeError(
        `expected ${count * this.opts.imageBytes} bytes for ${count} image(s), got ${pixels.length}`,
      );
    }
    return (await this.enqueue(pixels, count, null, clock)).outputs as Record<string, Float32Array>;
  }

  /**
   * Queues `count` rows of a payload laid out as `layout` says (only items whose layouts have the same key share a
   * batch); resolves with this item's rows and dims.
   */
  submitWithLayout(payload: Uint8Array, count: number, layout: L, clock?: BatchClock): Promise<ItemResult> {
    return this.enqueue(payload, count, layout, clock);
  }

  private enqueue(pixels: Uint8Array, count: number, layout: L | null, clock?: BatchClock): Promise<ItemResult> {
    if (this.queued + count > this.opts.maxQueue) {
      // Admission keeps the queue within MAX_QUEUE for the service; this holds it for any other caller too.
      return Promise.reject(overloaded(this.queued, this.opts.maxQueue));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ pixels, count, layout, queuedAt: performance.now(), clock, resolve, reject });
      this.queued += count;
      if (this.timer === null && !this.due) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.due = true;
          this.pump();
        }, this.opts.delayMs);
      }
      this.pump();
    });
  }

  /** Resolves once nothing is queued or running. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    this.due = true;
    this.pump();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Starts batches while a worker is idle, once the head of the queue is due (a full batch, the delay passed, or a run
   * just ended): then every idle worker takes its share.
   */
  private pump(): void {
    if (this.due || this.queued >= this.opts.maxBatch)
      while (this.queue.length > 0 && this.runner.idle > 0) this.dispatch(this.takeBatch());
    if (this.queue.length === 0) {
      this.due = false;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      if (this.running === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * The most images the next batch may take: maxBatch, and with several workers also an even share of the images
   * queued and running. Otherwise the first worker to free up takes the whole queue while the others run small
   * batches, then wait for arrivals: with clients that send their next request when the answer comes, up to a third
   * of the CPU idled under load.
   */
  private batchLimit(): number {
    const workers = this.runner.workers ?? 1;
    if (workers <= 1) return this.opts.maxBatch;
    return Math.min(this.opts.maxBatch, Math.max(1, Math.ceil((this.queued + this.runningRows) / workers)));
  }

  /** Removes up to batchLimit() images (at least one item) from the head of the queue. */
  private takeBatch(): Item<L>[] {
    const batch: Item<L>[] = [];
    const limit = this.batchLimit();
    let n = 0;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (batch.length > 0 && (n + head.count > limit || head.layout?.key !== batch[0]!.layout?.key)) break;
      this.queue.shift();
      batch.push(head);
      n += head.count;
    }
    this.queued -= n;
    return batch;
  }

  private dispatch(batch: Item<L>[]): void {
    const n = batch.reduce((s, it) => s + it.count, 0);
    const layout = batch[0]!.layout;
    const pixels = new Uint8Array(batch.reduce((s, it) => s + it.pixels.length, 0));
    const now = performance.now();
    const queueMs: number[] = [];
    const rows: number[] = [];
    let off = 0;
    let riders: RequestTrace[] | null = null;
    for (const it of batch) {
      pixels.set(it.pixels, off);
      off += it.pixels.length;
      queueMs.push(now - it.queuedAt);
      rows.push(it.count);
      it.clock?.queued(now - it.queuedAt);
      if (it.clock?.trace) {
        riders ??= [];
        riders.push(it.clock.trace);
      }
    }
    const span = riders ? this.traceBatch(batch, riders, n, now) : null;
    this.running++;
    this.runningRows += n;
    (layout === null ? this.runner.run(pixels, n) : this.runner.run(pixels, n, layout)).then(
      ({ outputs, ms, dims, worker }) => {
        if (span) {
          if (worker !== undefined) span.set({ 'mixer.worker': worker });
          span.set({ 'mixer.inference_ms': Math.round(ms * 1000) / 1000 });
          span.end();
        }
        let row = 0;
        for (const it of batch) {
          const mine: Record<string, OutputValues> = {};
          const mineDims: Record<string, number[]> = {};
          for (const [name, all] of Object.entries(outputs)) {
            const k = all.length / n;
            mine[name] =
              n === it.count
                ? all
                : Array.isArray(all)
                  ? all.slice(row * k, (row + it.count) * k)
                  : all.subarray(row * k, (row + it.count) * k);
            const d = dims?.[name];
            mineDims[name] = d ? (n === it.count ? [...d] : [it.count, ...d.slice(1)]) : [it.count, k];
          }
          row += it.count;
          it.clock?.ran(ms, it.count, n);
          it.resolve({ outputs: mine, dims: mineDims });
        }
        this.opts.onBatch?.({ size: n, queueMs, rows, inferenceMs: ms, maxBatch: this.opts.maxBatch });
        this.finished(n);
      },
      (e: unknown) => {
        span?.end(e);
        for (const it of batch) it.reject(e as Error);
        this.finished(n);
      },
    );
  }

  /**
   * The batch run's span, started by its first traced rider and linked from every traced rider's server span (a span
   * has one parent, so the others reach it by link); each traced rider's queue wait ends here, linked to it.
   */
  private traceBatch(batch: Item<L>[], riders: RequestTrace[], n: number, now: number): SpanHandle {
    const span = riders[0]!.batch(riders, {
      'mixer.batch.size': n,
      'mixer.batch.requests': batch.length,
      'mixer.batch.traced_requests': riders.length,
    });
    for (const it of batch) it.clock?.trace?.queued(it.queuedAt, span, now);
    return span;
  }

  /** A run ended: whatever queued meanwhile has waited long enough, so it goes next. */
  private finished(rows: number): void {
    this.running--;
    this.runningRows -= rows;
    if (this.queue.length > 0) this.due = true;
    this.pump();
  }
}
