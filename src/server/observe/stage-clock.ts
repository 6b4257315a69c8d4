// One inference request's stage timings (milliseconds), taken once in the core: admission wait, decode, queue wait, its batch's run, encode; and its trace, whose spans share those readings.

import type { RequestTrace } from './tracing.js';

/** What the micro-batcher tells a queued request: how long it waited, and the run of the batch it rode in. */
export interface BatchClock {
  /** The request's trace when it is sampled: the batcher ends its queue span and links it to the batch span. */
  readonly trace?: RequestTrace | undefined;
  /** The request left the queue for a batch after waiting `ms`. */
  queued(ms: number): void;
  /** Its batch ran for `ms` (inside the worker) on `batchRows` rows, `rows` of them this request's. */
  ran(ms: number, rows: number, batchRows: number): void;
}

/**
 * The stages of one request, as the DataPlane measures them for every protocol (REST /classify, REST v2, gRPC).
 * A stage the request skipped stays 0 (no wait for admission when there was room; none but decode and encode on a
 * response cache hit). The metrics (observe/stage-metrics.ts) read it once the request is answered. A sampled
 * request's trace rides along (`trace`), so the batcher times its queue wait once for both.
 */
export class StageClock implements BatchClock {
  constructor(readonly trace?: RequestTrace | undefined) {}

  /** When the core took the request (performance.now()). */
  readonly startedAt = performance.now();
  /** Time parked, unread, for room before the core saw the request (HTTP only; see parking.ts). */
  admissionWaitMs = 0;
  /** Request bytes to model input: images decoded and resized, or tensors converted (the adapter's decode included). */
  decodeMs = 0;
  queueWaitMs = 0;
  /** The whole run of the batch this request rode in, and its rows and this request's rows. */
  batchMs = 0;
  batchRows = 0;
  rows = 0;
  /** Model outputs to the answer: top-k predictions, or output tensors and their wire encoding. */
  encodeMs = 0;
  /** Answered from the response cache (no admission, queue or run). */
  cacheHit = false;

  queued(ms: number): void {
    this.queueWaitMs = ms;
  }

  ran(ms: number, rows: number, batchRows: number): void {
    this.batchMs = ms;
    this.rows = rows;
    this.batchRows = batchRows;
  }

  /** This request's share of its batch's run: the run time times its share of the batch's rows. */
  get inferenceShareMs(): number {
    return this.batchRows > 0 ? (this.batchMs * this.rows) / this.batchRows : 0;
  }

  /** Time since the core took the request, plus the admission wait before it. */
  totalMs(now = performance.now()): number {
    return this.admissionWaitMs + now - this.startedAt;
  }
}
