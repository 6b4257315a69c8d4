// Open Inference Protocol (KServe v2) tensors: parses infer requests (JSON or binary extension) and encodes responses.
import { ServiceError } from './errors.js';

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

/** Checks an infer request against the model's single input `pixels` UINT8 [N,size,size,3]. */
export function parseInferRequest(body: unknown, tail: Buffer | null, size: number, maxImages: number): InferCall {
  const req = body as RequestIn;
  if (!req || typeof req !== 'object' || !Array.isArray(req.inputs)) throw bad('the request needs an "inputs" array');
  if (req.inputs.length !== 1) throw bad(`the model has one input, "pixels"; got ${req.inputs.length} inputs`);
  const t = req.inputs[0]!;
  if (t.name !== 'pixels') throw bad(`unknown input "${String(t.name)}"; the model's input is "pixels"`);
  if (t.datatype !== 'UINT8') throw bad(`input "pixels" must be UINT8, got ${String(t.datatype)}`);
  const s = t.shape;
  if (!Array.isArray(s) || s.length !== 4 || s[1] !== size || s[2] !== size || s[3] !== 3 || !Number.isInteger(s[0]) || s[0]! < 1) {
    throw bad(`input "pixels" must have shape [N,${size},${size},3] with N >= 1, got [${String(s)}]`);
  }
  const n = s[0]!;
  if (n > maxImages) throw new ServiceError('TOO_MANY_IMAGES', `at most ${maxImages} images per request (see MAX_QUEUE), got ${n}`);
  const count = n * size * size * 3;
  let pixels: Uint8Array;
  const binSize = t.parameters?.['binary_data_size'];
  if (binSize !== undefined) {
    if (!tail) throw bad('binary_data_size is set but the request is not a binary (application/octet-stream) request');
    if (binSize !== count || tail.length !== count) throw bad(`input "pixels" needs ${count} bytes of binary data, got binary_data_size ${String(binSize)} and ${tail.length} bytes`);
    pixels = new Uint8Array(count);
    pixels.set(tail);
  } else {
    if (!Array.isArray(t.data)) throw bad('input "pixels" has no "data"');
    const flat = (t.data.some(Array.isArray) ? t.data.flat(Infinity) : t.data) as unknown[];
    if (flat.length !== count) throw bad(`input "pixels" of shape [${s.join(',')}] needs ${count} values, got ${flat.length}`);
    pixels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) throw bad(`input "pixels" value ${i} is ${JSON.stringify(v)}, not an integer in 0..255`);
      pixels[i] = v;
    }
  }
  const allBinary = req.parameters?.['binary_data_output'] === true;
  const wanted: OutputIn[] = req.outputs ?? OUTPUT_NAMES.map((name) => ({ name }));
  const outputs = wanted.map((o): RequestedOutput => {
    if (!(OUTPUT_NAMES as readonly string[]).includes(o.name)) throw bad(`unknown output "${String(o.name)}"; the model's outputs are ${OUTPUT_NAMES.join(', ')}`);
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
