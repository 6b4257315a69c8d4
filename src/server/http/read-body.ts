// Reads a request body whole, bounded: 413 as soon as it passes its limit (the rest is read and dropped), 400 when the client leaves before its end.
import type { IncomingMessage } from 'node:http';
import { ServiceError } from '../errors.js';

/** The body of `raw`, at most `limit` bytes; `what` names the limit in the 413 message. */
export function readBody(raw: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const tooLarge = (): ServiceError =>
    new ServiceError('PAYLOAD_TOO_LARGE', `the request body is larger than ${limit} bytes (${what})`);
  if (Number(raw.headers['content-length']) > limit) {
    raw.resume();
    return Promise.reject(tooLarge());
  }
  if (raw.readableEnded || raw.destroyed)
    return Promise.reject(new ServiceError('BAD_REQUEST', 'the request body was already read'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    // The listeners stay (an error after the answer must still have one); only the first event counts.
    const settle = (e: ServiceError | null): void => {
      if (settled) return;
      settled = true;
      if (e) {
        chunks.length = 0;
        // Dropped, not kept: the connection stays usable once the answer is sent.
        raw.resume();
        reject(e);
      } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      if (settled) return;
      size += c.length;
      if (size > limit) settle(tooLarge());
      else chunks.push(c);
    };
    const onEnd = (): void => settle(null);
    // Every request closes after its body ended: the error (and its stack) is only made for one that did not.
    const onError = (e: Error): void => {
      if (!settled) settle(new ServiceError('BAD_REQUEST', `the request body could not be read: ${e.message}`));
    };
    const onClose = (): void => {
      if (!settled) settle(new ServiceError('BAD_REQUEST', 'the client closed the connection before the body ended'));
    };
    raw.on('data', onData);
    raw.on('end', onEnd);
    raw.on('error', onError);
    raw.on('close', onClose);
  });
}
