// Errors Node's HTTP parser raises before Fastify sees a request (bad syntax, oversized headers, timeouts), answered in the documented JSON shape.
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { type ErrorCode, errorBody } from './errors.js';
import { SECURITY_HEADERS } from './security-headers.js';

/** Node's parser and timeout error codes → ours. */
export function clientErrorCode(code: string | undefined): ErrorCode {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_TIMEOUT';
  if (code === 'HPE_HEADER_OVERFLOW') return 'HEADERS_TOO_LARGE';
  return 'BAD_REQUEST';
}

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  REQUEST_TIMEOUT: 'the request was not received in time (see REQUEST_TIMEOUT_MS and HEADERS_TIMEOUT_MS)',
  HEADERS_TOO_LARGE: 'the request headers are larger than the server accepts (16 KiB)',
};

/** The raw HTTP/1.1 answer to a client error, closing the connection. */
export function clientErrorResponse(err: { code?: string }): string {
  const code = clientErrorCode(err.code);
  const b = errorBody(
    code,
    MESSAGES[code] ?? `malformed HTTP request${err.code?.startsWith('HPE_') ? ` (${err.code})` : ''}`,
  );
  const json = JSON.stringify(b);
  const extra = Object.entries(SECURITY_HEADERS)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${b.statusCode} ${b.error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n${extra}\r\n${json}`;
}

/** Fastify's clientErrorHandler (bound to the instance): answers when nothing was sent on the socket yet, then closes it. */
export function onClientError(this: { log: FastifyBaseLogger }, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  this.log.debug({ code: err.code }, 'client error');
  const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !pending?.headersSent) socket.end(clientErrorResponse(err));
  else socket.destroy();
}
