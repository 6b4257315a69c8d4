// Open Inference Protocol (KServe v2) tensors: parses infer requests (JSON or binary extension) and encodes responses.
import { ServiceError, echo } from './errors.js';

export type OutputName = 'logits' | 'probabilities';
export const OUTPUT_NAMES: readonly OutputName[] = ['logits', 'probabilities'];

export interface RequestedOutput {
  name: OutputName;
  binary: boolean;
  /** classification extension: top-k as "value:index:label" strings (0: raw tensor). */
  classification: number;
}

export interface InferCall {
  id?: string;
  pixels: Uint8Array;
  n: number;
  outputs: RequestedOutput[];
}

interface TensorIn {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

interface OutputIn {
  name: string;
  parameters?: Record<string, unknown>;
}

interface RequestIn {
  id?: string;
  parameters?: Record<string, unknown>;
  inputs: TensorIn[];
  outputs?: OutputIn[];
}

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

/**
 * The leaves of a nested `data` array, row-major, walked without recursion: nesting deeper than `maxDepth` levels or
 * more than `count` leaves is a 400, so no body (however deep) can blow the stack or allocate beyond the shape.
 */
export function flattenData(data: unknown[], maxDepth: number, count: number, what: string): unknown[] {
  const out: unknown[] = [];
  const stack: { a: unknown[]; i: number }[] = [{ a: data, i: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.a.length) {
      stack.pop();
      continue;
    }
    const v = top.a[top.i++];
    if (Array.isArray(v)) {
      if (stack.length >= maxDepth) throw bad(`${what} "data" is nested deeper than its ${maxDepth} dimensions`);
      stack.push({ a: v, i: 0 });
    } else if (out.push(v) > count) {
      throw bad(`${what} needs ${count} values, got more`);
    }
  }
  return out;
}

/** Longest JSON text of one FP32 value as JavaScript prints it (e.g. -1.1754943508222875e-38) plus its comma. */
const JSON_FLOAT_BYTES = 24;

/**
 * An upper bound on the bytes of the response to `call` (JSON header plus binary tensors), computed before inference
 * from the output count, batch size, class count and label lengths.
 */
export function responseBytesBound(call: InferCall, labels: readonly string[], modelName: string): number {
  const k = labels.length;
  const labelBytes = labels.map((l) => Buffer.byteLength(l, 'utf8')).sort((a, b) => b - a);
  let total = 128 + 6 * Buffer.byteLength(modelName, 'utf8') + (call.id !== undefined ? 6 * Buffer.byteLength(call.id, 'utf8') : 0);
  for (const o of call.outputs) {
    total += 128;
    if (o.classification > 0) {
      const top = Math.min(o.classification, k);
      const longest = labelBytes.slice(0, top).reduce((a, b) => a + b, 0);
      const digits = String(Math.max(0, k - 1)).length;
      // "value:index:label": binary adds a 4-byte length, JSON quotes, a comma and at worst \uXXXX escapes of the label.
      const perRow = top * (JSON_FLOAT_BYTES + 2 + digits) + (o.binary ? 4 * top + longest : 3 * top + 6 * longest);
      total += call.n * perRow;
    } else {
      total += call.n * k * (o.binary ? 4 : JSON_FLOAT_BYTES);
    }
  }
  return total;
}

/** Checks an infer request against the model's single input `pixels` UINT8 [N,size,size,3]. */
export function parseInferRequest(body: unknown, tail: Buffer | null, size: number, maxImages: number): InferCall {
  const req = body as RequestIn;
  if (!req || typeof req !== 'object' || !Array.isArray(req.inputs)) throw bad('the request needs an "inputs" array');
  if (req.inputs.length !== 1) throw bad(`the model has one input, "pixels"; got ${req.inputs.length} inputs`);
  const t = req.inputs[0]!;
  if (t.name !== 'pixels') throw bad(`unknown input ${echo(t.name)}; the model's input is "pixels"`);
  if (t.datatype !== 'UINT8') throw bad(`input "pixels" must be UINT8, got ${echo(t.datatype)}`);
  const s = t.shape;
  if (!Array.isArray(s) || s.length !== 4 || s[1] !== size || s[2] !== size || s[3] !== 3 || !Number.isInteger(s[0]) || s[0]! < 1) {
    throw bad(`input "pixels" must have shape [N,${size},${size},3] with N >= 1, got ${echo(s)}`);
  }
  const n = s[0]!;
  if (n > maxImages) throw new ServiceError('TOO_MANY_IMAGES', `at most ${maxImages} images per request (see MAX_QUEUE), got ${n}`);
  const count = n * size * size * 3;
  let pixels: Uint8Array;
  const binSize = t.parameters?.['binary_data_size'];
  if (binSize !== undefined) {
    if (!tail) throw bad('binary_data_size is set but the request is not a binary (application/octet-stream) request');
    if (binSize !== count || tail.length !== count) throw bad(`input "pixels" needs ${count} bytes of binary data, got binary_data_size ${echo(binSize)} and ${tail.length} bytes`);
    pixels = new Uint8Array(count);
    pixels.set(tail);
  } else {
    if (!Array.isArray(t.data)) throw bad('input "pixels" has no "data"');
    const flat = t.data.some(Array.isArray) ? flattenData(t.data, s.length, count, 'input "pixels"') : t.data;
    if (flat.length !== count) throw bad(`input "pixels" of shape [${s.join(',')}] needs ${count} values, got ${flat.length}`);
    pixels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) throw bad(`input "pixels" value ${i} is ${echo(v)}, not an integer in 0..255`);
      pixels[i] = v;
    }
  }
  const allBinary = req.parameters?.['binary_data_output'] === true;
  const wanted: OutputIn[] = req.outputs ?? OUTPUT_NAMES.map((name) => ({ name }));
  if (!Array.isArray(wanted)) throw bad('"outputs" must be an array');
  const seen = new Set<string>();
  const outputs = wanted.map((o): RequestedOutput => {
    if (!o || typeof o !== 'object') throw bad('each entry of "outputs" must be an object with a "name"');
    if (!(OUTPUT_NAMES as readonly string[]).includes(o.name)) throw bad(`unknown output ${echo(o.name)}; the model's outputs are ${OUTPUT_NAMES.join(', ')}`);
    if (seen.has(o.name)) throw bad(`output "${o.name}" is requested more than once; ask for each output at most once`);
    seen.add(o.name);
    const p = o.parameters ?? {};
    const cls = p['classification'] ?? 0;
    if (typeof cls !== 'number' || !Number.isInteger(cls) || cls < 0) throw bad(`output "${o.name}": classification must be a non-negative integer`);
    const binary = typeof p['binary_data'] === 'boolean' ? p['binary_data'] : allBinary;
    return { name: o.name as OutputName, binary, classification: cls };
  });
  return { ...(typeof req.id === 'string' ? { id: req.id } : {}), pixels, n, outputs };
}

export interface OutputOut {
  name: string;
  datatype: 'FP32' | 'BYTES';
  shape: number[];
  parameters?: { binary_data_size: number };
  data?: (number | string)[];
}

/** The response JSON and, for binary outputs, the bytes to append after it (in output order). */
export function encodeInferResponse(
  call: InferCall,
  results: Record<OutputName, Float32Array>,
  labels: readonly string[],
  modelName: string,
): { json: { model_name: string; model_version: string; id?: string; outputs: OutputOut[] }; binary: Buffer[] } {
  const k = labels.length;
  const binary: Buffer[] = [];
  const outputs = call.outputs.map((o): OutputOut => {
    const values = results[o.name];
    let shape: number[];
    let data: (number | string)[] | null = null;
    let bytes: Buffer | null = null;
    if (o.classification > 0) {
      const top = Math.min(o.classification, k);
      const strings: string[] = [];
      for (let r = 0; r < call.n; r++) {
        const row = values.subarray(r * k, (r + 1) * k);
        const idx = Array.from({ length: k }, (_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b);
        for (const i of idx.slice(0, top)) strings.push(`${row[i]!}:${i}:${labels[i] ?? ''}`);
      }
      shape = [call.n, top];
      if (o.binary) bytes = Buffer.concat(strings.flatMap((s) => {
        const b = Buffer.from(s, 'utf8');
        const len = Buffer.alloc(4);
        len.writeUInt32LE(b.length);
        return [len, b];
      }));
      else data = strings;
    } else {
      shape = [call.n, k];
      if (o.binary) bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
      else data = Array.from(values);
    }
    const datatype = o.classification > 0 ? 'BYTES' : 'FP32';
    if (bytes) {
      binary.push(bytes);
      return { name: o.name, datatype, shape, parameters: { binary_data_size: bytes.length } };
    }
    return { name: o.name, datatype, shape, data: data! };
  });
  return { json: { model_name: modelName, model_version: '1', ...(call.id !== undefined ? { id: call.id } : {}), outputs }, binary };
}
