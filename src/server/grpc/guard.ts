// The gRPC port's transport defences, in front of grpc-js: connection cap, HTTP/2 preface timeout, and per call the API key, its scope and rate limit (from the headers, before any body), and for unary calls a receive deadline and a bound on request bytes held by all calls.
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { Access } from '../access/gate.js';
import { echo } from '../errors.js';
import { checkCall } from './auth.js';

export interface GuardOptions {
  /** API keys, scopes and rate limits; with none set every call goes through. */
  access: Access;
  /** Method paths that need no key (health). */
  openPaths: ReadonlySet<string>;
  /** Every method path served; others get UNIMPLEMENTED here, with the path bounded in the message. */
  knownPaths: ReadonlySet<string>;
  /**
   * Client-streaming methods (ModelStreamInfer): open for as long as the client sends, so no receive deadline, and
   * their memory is bounded by their handler (requests in flight per stream), not by the byte count below.
   */
  streamPaths?: ReadonlySet<string>;
  maxConnections: number;
  /** A new connection must send its HTTP/2 preface (SETTINGS) within this. */
  handshakeTimeoutMs: number;
  /** A call's request must have fully arrived within this (0: no limit). */
  receiveTimeoutMs: number;
  /** Request bytes held by all calls together. */
  maxBufferedBytes: number;
  /** Called when a call is refused for the byte bound (the shed counter). */
  onShed: () => void;
}

/** What the guard has refused or closed so far (tests and logs read it). */
export interface GuardCounts {
  unauthenticated: number;
  /** Refused for a scope (PERMISSION_DENIED) or a rate limit (RESOURCE_EXHAUSTED). */
  forbidden: number;
  rateLimited: number;
  receiveTimeouts: number;
  overBudget: number;
  handshakeTimeouts: number;
  droppedConnections: number;
  /** Memory held now by admitted calls' received chunks. */
  bufferedBytes: number;
}

/** The grpc-timeout header's form (gRPC over HTTP/2: 1 to 8 digits and a unit). */
const GRPC_TIMEOUT = /^\d{1,8}[HMSmun]$/;

/** Answers a call with a status (trailers-only when nothing was sent yet) and resets the stream, so no more body comes. */
export function refuse(
  stream: http2.ServerHttp2Stream,
  code: grpc.status,
  details: string,
  mixerCode?: string,
  extra: http2.OutgoingHttpHeaders = {},
): void {
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent)
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc+proto',
        'grpc-status': String(code),
        'grpc-message': encodeURI(details),
        ...(mixerCode ? { 'mixer-code': mixerCode } : {}),
        ...extra,
      },
      { endStream: true },
    );
  // After the answer is written: RST_STREAM NO_ERROR (RFC 9113 §8.1) tells the client to stop sending the body.
  stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** The values of `name` among a stream's raw headers (duplicates kept; Node keeps only the first in `headers`). */
function rawValues(raw: string[] | undefined, headers: http2.IncomingHttpHeaders, name: string): string[] {
  if (!raw) {
    const v = headers[name];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

/**
 * Puts the guard in front of grpc-js's HTTP/2 servers (one per bound address): grpc-js offers no hook before it
 * starts buffering a call's message, so the guard takes over their 'stream' event and hands grpc-js only the calls
 * it admits, and caps and times the connections on the servers themselves.
 */
export function guardServers(servers: readonly http2.Http2Server[], opts: GuardOptions): GuardCounts {
  const counts: GuardCounts = {
    unauthenticated: 0,
    forbidden: 0,
    rateLimited: 0,
    receiveTimeouts: 0,
    overBudget: 0,
    handshakeTimeouts: 0,
    droppedConnections: 0,
    bufferedBytes: 0,
  };
  // Memory held by calls' received chunks. A chunk is a slice of the buffer Node read the HTTP/2 frames into (up to
  // 64 KiB, shared by frames of several streams), and keeps all of it alive: each such buffer counts once, whole,
  // while any call holds a slice of it.
  const refs = new Map<ArrayBufferLike, number>();

  /** True when the call may go on; otherwise it has been answered. */
  const admit = (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    raw: string[] | undefined,
  ): boolean => {
    const path = String(headers[':path'] ?? '');
    if (!opts.knownPaths.has(path)) {
      refuse(stream, grpc.status.UNIMPLEMENTED, `no method ${echo(path)}`);
      return false;
    }
    const timeout = headers['grpc-timeout'];
    if (timeout !== undefined && !GRPC_TIMEOUT.test(String(timeout))) {
      refuse(stream, grpc.status.INVALID_ARGUMENT, `invalid grpc-timeout ${echo(String(timeout))}`);
      return false;
    }
    if (!opts.openPaths.has(path) && opts.access.enabled) {
      const address = stream.session?.socket?.remoteAddress ?? '';
      const no = checkCall(rawValues(raw, headers, 'authorization'), opts.access, address, path);
      if (no) {
        if (no.mixerCode === 'UNAUTHORIZED') counts.unauthenticated++;
        else if (no.mixerCode === 'FORBIDDEN') counts.forbidden++;
        else counts.rateLimited++;
        // A rate-limit refusal says when to retry, as HTTP's Retry-After does.
        const extra = no.retryAfterS !== undefined ? { 'retry-after': String(no.retryAfterS) } : {};
        refuse(stream, no.code, no.details, no.mixerCode, extra);
        return false;
      }
    }
    return true;
  };

  /** Receive deadline and byte accounting of an admitted call. */
  const watch = (stream: http2.ServerHttp2Stream): void => {
    const held = new Set<ArrayBufferLike>();
    let timer: NodeJS.Timeout | null = null;
    if (opts.receiveTimeoutMs > 0) {
      timer = setTimeout(() => {
        counts.receiveTimeouts++;
        refuse(
          stream,
          grpc.status.DEADLINE_EXCEEDED,
          `the request message did not arrive within ${opts.receiveTimeoutMs} ms (REQUEST_TIMEOUT_MS)`,
          'REQUEST_TIMEOUT',
        );
      }, opts.receiveTimeoutMs);
      timer.unref();
    }
    const stop = (): void => {
      if (timer) clearTimeout(timer);
      timer = null;
    };
    stream.on('data', (chunk: Buffer) => {
      const ab = chunk.buffer;
      if (held.has(ab)) return;
      held.add(ab);
      const n = refs.get(ab) ?? 0;
      refs.set(ab, n + 1);
      if (n === 0) counts.bufferedBytes += ab.byteLength;
      if (counts.bufferedBytes > opts.maxBufferedBytes) {
        counts.overBudget++;
        opts.onShed();
        stop();
        refuse(
          stream,
          grpc.status.UNAVAILABLE,
          'the server holds too many request bytes (GRPC_MAX_BUFFERED_BYTES); retry shortly',
          'OVERLOADED',
        );
      }
    });
    stream.once('end', stop);
    stream.once('close', () => {
      stop();
      for (const ab of held) {
        const n = refs.get(ab)! - 1;
        if (n > 0) refs.set(ab, n);
        else {
          refs.delete(ab);
          counts.bufferedBytes -= ab.byteLength;
        }
      }
      held.clear();
    });
  };

  for (const server of servers) {
    server.maxConnections = opts.maxConnections;
    server.on('drop', () => counts.droppedConnections++);
    server.on('session', (session: http2.ServerHttp2Session) => {
      // A connection that never sends its preface holds a descriptor and a session for nothing.
      const timer = setTimeout(() => {
        counts.handshakeTimeouts++;
        session.destroy();
      }, opts.handshakeTimeoutMs);
      timer.unref();
      session.once('remoteSettings', () => clearTimeout(timer));
      session.once('close', () => clearTimeout(timer));
    });
    const inner = server.listeners('stream') as ((...args: unknown[]) => void)[];
    server.removeAllListeners('stream');
    server.on('stream', (stream: http2.ServerHttp2Stream, headers, flags, raw?: string[]) => {
      stream.on('error', () => {});
      if (!admit(stream, headers, raw)) return;
      for (const l of inner) l.call(server, stream, headers, flags, raw);
      // After grpc-js has attached (and paused) its reader, so this listener does not start the flow itself.
      if (!opts.streamPaths?.has(String(headers[':path'] ?? ''))) watch(stream);
    });
  }
  return counts;
}
