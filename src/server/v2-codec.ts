// Open Inference Protocol (KServe v2) binary tensor extension: splits a request body into its JSON header and the tensor bytes.
import { ServiceError } from './errors.js';

const bad = (msg: string): ServiceError => new ServiceError('BAD_TENSOR', msg);

/** Splits a binary-extension body into its JSON header and the tensor bytes after it. */
export function splitBinaryBody(raw: Buffer, headerLength: string | undefined): { json: unknown; tail: Buffer } {
  const len = Number(headerLength);
  if (headerLength === undefined || !Number.isInteger(len) || len < 0 || len > raw.length) {
    throw bad('a binary infer request needs an Inference-Header-Content-Length header no larger than the body');
  }
  try {
    return { json: JSON.parse(raw.subarray(0, len).toString('utf8')), tail: raw.subarray(len) };
  } catch {
    throw bad('the JSON header of the binary infer request is not valid JSON');
  }
}
