// ModelStreamInfer: a bidirectional stream of ModelInferRequest → ModelStreamInferResponse, each request run as a unary ModelInfer, answered in request order, a failed one with its error_message (the stream goes on), with a bounded number of requests held per stream.
import type * as grpc from '@grpc/grpc-js';
import { ServiceError, SHUTTING_DOWN_MESSAGE, toServiceError } from '../errors.js';
import type { GrpcInferRequest, GrpcInferResponse } from './infer.js';

/** One answer on the stream: an error_message, or the response (an error's carries the request's id and its code). */
export interface StreamInferResponse {
  error_message: string;
  infer_response: GrpcInferResponse | ErrorInferResponse;
}

interface ErrorInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: { 'mixer-code': { string_param: string } };
}

export interface StreamLimits {
  /** Requests of one stream read and not yet answered (being run, or waiting for an earlier one to be written). */
  maxInFlight: number;
  /** Their bytes (tensor contents, roughly as received); reading stops at this until answers go out. */
  maxInFlightBytes: number;
}

export interface StreamHandlers {
  /** Runs one request exactly as unary ModelInfer does. */
  infer: (r: GrpcInferRequest) => Promise<GrpcInferResponse>;
  /** Checked for each request after the first (the call's own check covered that one): a refusal, or null. */
  admit: () => ServiceError | null;
  /** Called with each request's failure (shed counting). */
  failed: (e: ServiceError) => void;
}

export type StreamCall = grpc.ServerDuplexStream<GrpcInferRequest, StreamInferResponse>;

/** A request's tensor bytes as they arrived (raw contents, or typed values at their element size). */
export function requestBytes(r: GrpcInferRequest): number {
  let n = 0;
  for (const b of r.raw_input_contents ?? []) n += b.length;
  for (const t of r.inputs ?? []) {
    const c = t.contents;
    if (!c) continue;
    for (const [field, values] of Object.entries(c)) {
      if (!Array.isArray(values)) continue;
      if (field === 'bytes_contents') for (const b of values as Buffer[]) n += b.length + 4;
      else n += values.length * 8;
    }
  }
  return n;
}

function errorResponse(r: GrpcInferRequest | null, e: ServiceError): StreamInferResponse {
  return {
    error_message: e.message,
    infer_response: {
      model_name: r?.model_name ?? '',
      model_version: r?.model_version ?? '',
      id: r?.id ?? '',
      parameters: { 'mixer-code': { string_param: e.code } },
    },
  };
}

/**
 * Serves one ModelStreamInfer call. Requests start as they are read, run concurrently (so the batcher can join them),
 * and are answered in the order they came (as Triton answers a non-decoupled model's stream). Reading pauses while
 * `maxInFlight` requests or `maxInFlightBytes` are held, and while the client does not take the answers already
 * written (HTTP/2 flow control), so a client that never reads holds a bounded amount of server memory. On the
 * client's half-close the stream ends OK once every request read is answered; on cancel or deadline the answers
 * still running are dropped. Returns `drain`: stop reading, answer what was read, then end with UNAVAILABLE.
 */
export function serveStream(call: StreamCall, limits: StreamLimits, h: StreamHandlers): () => void {
  // grpc-js decodes ahead of the handler up to the stream's read buffer (16 messages by default): one ahead is enough.
  const state = (call as unknown as { _readableState?: { highWaterMark?: number } })._readableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = 1;
  const pending: { answer: StreamInferResponse | null; bytes: number }[] = [];
  let bytes = 0;
  let first = true;
  let halfClosed = false;
  let draining = false;
  let blocked = false;
  let gone = false;
  let ended = false;

  const full = (): boolean => pending.length >= limits.maxInFlight || bytes >= limits.maxInFlightBytes || blocked;
  const steer = (): void => {
    if (gone || ended) return;
    if (draining || full()) call.pause();
    else call.resume();
  };
  const finish = (): void => {
    if (ended || gone) return;
    ended = true;
    if (draining) call.emit('error', { code: 14 /* UNAVAILABLE */, details: SHUTTING_DOWN_MESSAGE });
    else call.end();
  };
  /** Writes the answers at the head that are ready, in order, until the client stops taking them. */
  const flush = (): void => {
    while (!gone && !blocked && pending[0]?.answer) {
      const slot = pending.shift()!;
      bytes -= slot.bytes;
      if (!call.write(slot.answer as StreamInferResponse)) {
        blocked = true;
        call.once('drain', () => {
          blocked = false;
          flush();
        });
      }
    }
    if ((halfClosed || draining) && pending.length === 0 && !blocked) finish();
    steer();
  };

  call.on('data', (r: GrpcInferRequest) => {
    if (gone || ended) return;
    const slot = { answer: null as StreamInferResponse | null, bytes: requestBytes(r) };
    pending.push(slot);
    bytes += slot.bytes;
    const refused = first ? null : h.admit();
    first = false;
    const run = refused ? Promise.reject(refused) : Promise.resolve().then(() => h.infer(r));
    run
      .then(
        (res): StreamInferResponse => ({ error_message: '', infer_response: res }),
        (e: unknown) => {
          const se = toServiceError(e);
          h.failed(se);
          return errorResponse(r, se);
        },
      )
      .then((answer) => {
        slot.answer = answer;
        flush();
      });
    steer();
  });
  call.on('end', () => {
    halfClosed = true;
    flush();
  });
  const drop = (): void => {
    gone = true;
    pending.length = 0;
    bytes = 0;
  };
  call.on('cancelled', drop);
  call.on('error', drop);
  call.on('close', drop);
  return () => {
    if (gone || ended) return;
    draining = true;
    flush();
  };
}

/** The refusal of a request over the rate limit (the stream stays open). */
export const rateLimited = (message: string): ServiceError => new ServiceError('RATE_LIMITED', message);
