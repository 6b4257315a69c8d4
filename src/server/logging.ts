// Request logging: one pino line per finished HTTP request or gRPC call with its id, route or method, status and latency (arrivals only at debug), and an inference's model, version, batch and times; successes and rejections sampled.
import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { InferLogFields } from './core/data-plane.js';
import { LogSampler, sampled } from './log-sampler.js';

/** The inference fields of requests that ran one (the data plane fills them in; the request's line writes them). */
const inferFields = new WeakMap<FastifyRequest, InferLogFields>();

/** The log fields an inference route hands the data plane for `req`'s line. */
export function inferLogFields(req: FastifyRequest): InferLogFields {
  let f = inferFields.get(req);
  if (!f) {
    f = {};
    inferFields.set(req, f);
  }
  return f;
}

/** Longest URL written to a log line. */
const URL_MAX = 256;

/** Rejection lines (4xx, 503) written per second and status. */
const REJECTIONS_PER_S = 10;

/**
 * The sampler of request lines: at most 10 lines per second for each 4xx/503 status and `successesPerS`
 * (LOG_SUCCESSES) for each success status; the rest are counted and reported as `droppedLines`. Server errors are
 * always written.
 */
export function requestLineSampler(successesPerS?: number): LogSampler {
  return new LogSampler({
    perWindow: REJECTIONS_PER_S,
    ...(successesPerS !== undefined ? { successesPerWindow: successesPerS } : {}),
    windowMs: 1000,
  });
}

/**
 * Writes one finished request's line through `sampler` (its HTTP status decides the sampling; an error is always
 * written), after a line with the counts of the lines dropped since the last report.
 */
export function writeRequestLine(
  log: FastifyBaseLogger,
  sampler: LogSampler,
  status: number,
  line: object,
  error: Error | null | undefined,
  done: string,
): void {
  const dropped = sampler.takeDropped();
  if (dropped) {
    // Dropped rejections are worth a warning; dropped successes are routine sampling.
    const level = Object.keys(dropped).some((s) => sampled(Number(s))) ? 'warn' : 'info';
    log[level](
      { droppedLines: dropped },
      'request lines are sampled per second and status (see LOG_SUCCESSES); lines dropped meanwhile',
    );
  }
  if (!error && !sampler.allow(status)) return;
  if (error) log.error({ ...line, err: error }, 'request errored');
  else log.info(line, done);
}

export class RequestLog extends LogController {
  /** Which request lines get written (requestLineSampler). */
  readonly sampler: LogSampler;

  constructor(successesPerS?: number) {
    super({ requestIdLogLabel: 'reqId' });
    this.sampler = requestLineSampler(successesPerS);
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: request.url.slice(0, URL_MAX) }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      url: request.url.slice(0, URL_MAX),
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      ...inferFields.get(request),
    };
    writeRequestLine(reply.log, this.sampler, reply.statusCode, line, error, 'request completed');
  }
}
