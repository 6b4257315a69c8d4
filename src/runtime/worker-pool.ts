// Runs ORT sessions in worker threads so inference never blocks the caller's event loop; one job per worker at a time.
import type { Worker } from 'node:worker_threads';
// First: telemetry off on the main thread, whose environment the workers' native binding reads.
import './telemetry.js';
import { startWorker } from '../util/worker-script.js';
import { type HostTensor, RuntimeError, type SessionOptions } from './session.js';
import type { RunReply, RunRequest, StartReply, WorkerInit } from './worker.js';

export interface PoolOptions extends SessionOptions {
  /** Worker threads, each with its own session (default 1). */
  workers?: number;
}

export interface RunResult {
  outputs: Record<string, HostTensor>;
  /** Milliseconds the session's run took inside the worker. */
  ms: number;
  /** The thread id of the worker that ran it. */
  worker: number;
}

interface Job {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

/** One thread with one session; `job` is the run in flight, if any. */
class Slot {
  job: Job | null = null;
  dead: Error | null = null;

  private constructor(readonly worker: Worker) {}

  static start(
    init: WorkerInit,
    onDeath: (s: Slot) => void,
  ): Promise<{ slot: Slot; ready: Extract<StartReply, { type: 'ready' }> }> {
    return new Promise((resolve, reject) => {
      const worker = startWorker(import.meta.url, 'worker', { workerData: init });
      const slot = new Slot(worker);
      let started = false;
      worker.once('message', (m: StartReply) => {
        if (m.type === 'failed') {
          void worker.terminate();
          reject(new RuntimeError(m.message, m.code));
          return;
        }
        started = true;
        worker.on('message', (r: RunReply) => slot.settle(r));
        worker.unref();
        resolve({ slot, ready: m });
      });
      const die = (err: Error): void => {
        if (!started) return reject(err);
        if (slot.dead) return;
        slot.dead = err;
        const job = slot.job;
        slot.job = null;
        job?.reject(err);
        onDeath(slot);
      };
      worker.on('error', (e) => die(new RuntimeError(`inference worker crashed: ${e.message}`, 'WORKER_CRASHED')));
      worker.on('exit', (code) => die(new RuntimeError(`inference worker exited (code ${code})`, 'WORKER_CRASHED')));
    });
  }

  run(req: RunRequest): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      this.job = { resolve, reject };
      this.worker.ref();
      this.worker.postMessage(req, transferables(req.feeds));
    });
  }

  private settle(r: RunReply): void {
    const job = this.job;
    this.job = null;
    this.worker.unref();
    if (!job) return;
    if ('error' in r) job.reject(new RuntimeError(`inference failed: ${r.error}`, r.code));
    else job.resolve({ outputs: r.outputs, ms: r.ms, worker: this.worker.threadId });
  }
}

/** Buffers that can move to the worker without a copy: whole, non-shared ArrayBuffers. */
function transferables(feeds: Record<string, HostTensor>): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const t of Object.values(feeds)) {
    if (Array.isArray(t.data)) continue;
    const b = t.data.buffer;
    if (b instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === b.byteLength && !out.includes(b))
      out.push(b);
  }
  return out;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private closed = false;
  private nextId = 0;

  private constructor(
    private readonly init: WorkerInit,
    /** The execution provider the sessions use. */
    readonly provider: 'cpu' | 'cuda',
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  /** Starts `workers` threads and waits until every session is open; fails with the session's RuntimeError. */
  static async create(model: string | Uint8Array, o: PoolOptions = {}): Promise<WorkerPool> {
    const n = o.workers ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`workers must be a positive integer, got ${n}`);
    const { workers: _, ...options } = o;
    const init: WorkerInit = { model, options };
    let pool: WorkerPool | null = null;
    const onDeath = (s: Slot): void => pool?.replace(s);
    const started = await Promise.allSettled(Array.from({ length: n }, () => Slot.start(init, onDeath)));
    const failed = started.find((r) => r.status === 'rejected');
    const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (failed) {
      await Promise.all(ok.map((r) => r.slot.worker.terminate()));
      throw failed.reason;
    }
    const first = ok[0]!.ready;
    pool = new WorkerPool(init, first.provider, first.inputNames, first.outputNames);
    pool.slots.push(...ok.map((r) => r.slot));
    return pool;
  }

  /** Workers ready to take a run now. */
  get idle(): number {
    let k = 0;
    for (const s of this.slots) if (!s.job && !s.dead) k++;
    return k;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Runs on an idle worker; rejects with code 'BUSY' when none is idle (callers dispatch while `idle` > 0). */
  run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<RunResult> {
    if (this.closed) return Promise.reject(new RuntimeError('the worker pool is closed', 'CLOSED'));
    const slot = this.slots.find((s) => !s.job && !s.dead);
    if (!slot)
      return Promise.reject(
        new RuntimeError('no idle inference worker', this.slots.some((s) => !s.dead) ? 'BUSY' : 'WORKER_CRASHED'),
      );
    const req: RunRequest = outputs ? { id: this.nextId++, feeds, outputs } : { id: this.nextId++, feeds };
    return slot.run(req);
  }

  /** Terminates every worker; runs in flight are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const s of slots) s.dead ??= new RuntimeError('the worker pool is closed', 'CLOSED');
    // A terminating worker does not always keep the event loop alive until its exit is reported; this timer does.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      await Promise.all(
        slots.map(async (s) => {
          s.job?.reject(s.dead!);
          s.job = null;
          await s.worker.terminate();
        }),
      );
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** A crashed worker is replaced by a fresh one (its run was already rejected). */
  private replace(dead: Slot): void {
    if (this.closed) return;
    Slot.start(this.init, (s) => this.replace(s)).then(
      ({ slot }) => {
        const i = this.slots.indexOf(dead);
        if (this.closed) void slot.worker.terminate();
        else if (i >= 0) this.slots[i] = slot;
      },
      () => {},
    );
  }
}
