// Response cache keys of neutral requests (a tensor request without its id, a classify request's uploads) and the size of a kept tensor answer.
import type { KeyPart } from '../traffic/response-cache.js';
import { outputBytes } from './datatypes.js';
import type { InferRequest, InferResponse } from './types.js';

/**
 * A value as text that tells apart every value a request can carry: numbers keep -0, NaN and ±Infinity (which JSON
 * would turn into 0 or null), strings are quoted, lists nest. Two requests share a key only when every field the
 * core reads is equal, so a hit answers what a miss would.
 */
function valueText(v: unknown): string {
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + valueText(v[i]);
    return `${s}]`;
  }
  if (typeof v === 'bigint') return `${v}n`;
  return JSON.stringify(v) ?? String(v);
}

/**
 * The key parts of a tensor request: every field of the neutral request but its id (inputs with their values or
 * raw bytes, the requested outputs with classification and binary, binaryOutputs). The same tensors sent over
 * another wire share the key when they decode to the same neutral request; each adapter encodes the kept answer.
 */
export function inferKey(req: InferRequest): KeyPart[] {
  const parts: KeyPart[] = ['infer', req.binaryOutputs === true ? 1 : 0, req.inputs.length];
  for (const t of req.inputs) {
    parts.push(valueText(t?.name), valueText(t?.datatype), valueText(t?.shape));
    if (t?.data instanceof Uint8Array) parts.push('raw', t.data);
    else parts.push('list', valueText(t?.data));
  }
  // No list and an empty list both ask for every output (as the core reads them).
  if (req.outputs === null || req.outputs.length === 0) parts.push('all');
  else
    parts.push(
      valueText(
        req.outputs.map((o) =>
          o && typeof o === 'object' ? [o.name, o.classification, 'binary' in o ? o.binary : 'default'] : o,
        ),
      ),
    );
  return parts;
}

/** The key parts of a classify request: `top`, the image preprocessing, and each upload's filename and exact bytes. */
export function classifyKey(
  top: number,
  image: unknown,
  uploads: readonly { filename: string | null; bytes: Uint8Array }[],
): KeyPart[] {
  const parts: KeyPart[] = ['classify', top, JSON.stringify(image ?? null), uploads.length];
  for (const u of uploads) parts.push(u.filename === null ? 0 : u.filename, u.bytes);
  return parts;
}

/** A kept tensor answer: its outputs copied out of the batch's buffers (a view would hold the whole batch). */
export function keptResponse(r: InferResponse): InferResponse {
  const { id: _id, ...rest } = r;
  return {
    ...rest,
    outputs: r.outputs.map((o) => ({ ...o, data: Array.isArray(o.data) ? [...o.data] : o.data.slice() })),
  };
}

/** What a kept tensor answer holds: its header as JSON and its tensors' bytes. */
export function responseBytes(r: InferResponse): number {
  const head = { ...r, outputs: r.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })) };
  return (
    Buffer.byteLength(JSON.stringify(head), 'utf8') + r.outputs.reduce((a, o) => a + outputBytes(o.data).length, 0)
  );
}
