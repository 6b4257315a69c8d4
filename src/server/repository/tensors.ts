// Open Inference Protocol v2 tensors for any model: every onnxruntime datatype, shapes checked against the graph, JSON or binary data.

import type { TensorInfo } from '../../onnx/inspect.js';
import { ELEM_TYPES, type ElemType, type V2Datatype } from '../../onnx/types.js';
import { topKIndices } from '../../util/rank.js';
import type { OutputValues } from '../batcher.js';
import { echo, ServiceError } from '../errors.js';
import { elemBytes } from './contract.js';
import { type TensorLayout, tensorLayout } from './instance.js';

/** Element type → its v2 datatype name. */
export const V2_TYPES = Object.fromEntries(Object.entries(ELEM_TYPES).map(([t, info]) => [t, info.v2])) as Record<
  ElemType,
  V2Datatype
>;

const bad = (msg: string): ServiceError => new ServiceError('BAD_TENSOR', msg);

/** v2 metadata shape: dynamic or unknown dims are -1. */
export const v2Shape = (s: TensorInfo['shape']): number[] => s.map((d) => (typeof d === 'number' ? d : -1));

const INT_RANGE: Partial<Record<ElemType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 2 ** 32 - 1],
};

/** float → IEEE half bits (round to nearest even). */
export function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** IEEE half bits → float. */
export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** JSON values of one input → its bytes (strings: length-prefixed UTF-8). */
function encodeJson(name: string, type: ElemType, values: unknown[]): Uint8Array {
  const n = values.length;
  const where = (i: number) => `input "${name}" value ${i} is ${echo(values[i])}`;
  if (type === 'string') {
    const parts: Buffer[] = [];
    values.forEach((v, i) => {
      if (typeof v !== 'string') throw bad(`${where(i)}, not a string (BYTES)`);
      const b = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      parts.push(len, b);
    });
    return new Uint8Array(Buffer.concat(parts));
  }
  const out = new Uint8Array(n * elemBytes(type));
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (type === 'bool') {
      if (typeof v !== 'boolean' && v !== 0 && v !== 1) throw bad(`${where(i)}, not a boolean`);
      out[i] = v === true || v === 1 ? 1 : 0;
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      if (!(type.startsWith('float') && typeof v === 'number')) throw bad(`${where(i)}, not a number`);
    }
    const x = v as number;
    if (type === 'float32') dv.setFloat32(i * 4, x, true);
    else if (type === 'float64') dv.setFloat64(i * 8, x, true);
    else if (type === 'float16') dv.setUint16(i * 2, toHalf(x), true);
    else {
      if (!Number.isInteger(x)) throw bad(`${where(i)}, not an integer (${V2_TYPES[type]})`);
      if (type === 'int64' || type === 'uint64') {
        if (!Number.isSafeInteger(x) || (type === 'uint64' && x < 0))
          throw bad(`${where(i)}, out of range for ${V2_TYPES[type]} in JSON (use binary data for values beyond 2^53)`);
        if (type === 'int64') dv.setBigInt64(i * 8, BigInt(x), true);
        else dv.setBigUint64(i * 8, BigInt(x), true);
        continue;
      }
      const [lo, hi] = INT_RANGE[type]!;
      if (x < lo || x > hi) throw bad(`${where(i)}, not an integer in ${lo}..${hi} (${V2_TYPES[type]})`);
      if (type === 'int8') dv.setInt8(i, x);
      else if (type === 'uint8') dv.setUint8(i, x);
      else if (type === 'int16') dv.setInt16(i * 2, x, true);
      else if (type === 'uint16') dv.setUint16(i * 2, x, true);
      else if (type === 'int32') dv.setInt32(i * 4, x, true);
      else dv.setUint32(i * 4, x, true);
    }
  }
  return out;
}

/** Elements of length-prefixed strings in `b`, or -1 when the bytes do not parse. */
function countStrings(b: Uint8Array): number {
  let k = 0;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < b.length; k++) {
    if (i + 4 > b.length) return -1;
    i += 4 + dv.getUint32(i, true);
    if (i > b.length) return -1;
  }
  return k;
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

/**
 * Rows an infer request asks for, read before anything is converted (admission counts them): the first input's batch
 * size when the model batches, else 1; 1 if malformed (the parser then says why).
 */
export function rowsAsked(json: unknown, batchable: boolean): number {
  if (!batchable) return 1;
  const n = (json as { inputs?: { shape?: unknown[] }[] } | null)?.inputs?.[0]?.shape?.[0];
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Longest JSON text of one number as JavaScript prints it (e.g. -1.7976931348623157e+308) plus its comma. */
const JSON_NUMBER_BYTES = 26;

/**
 * An upper bound on the bytes of the response to `call` (JSON header plus binary tensors), computed before inference
 * from the requested outputs' graph shapes (the batch dim is the request's rows), their types and the label lengths;
 * null when an output's size is unknown until it runs (another dynamic dim, or strings).
 */
export function responseBytesBound(
  call: TensorCall,
  outputs: TensorInfo[],
  labels: readonly string[],
  modelName: string,
): number | null {
  const labelBytes = labels.map((l) => Buffer.byteLength(l, 'utf8')).sort((a, b) => b - a);
  let total =
    160 +
    6 * Buffer.byteLength(modelName, 'utf8') +
    (call.id !== undefined ? 6 * Buffer.byteLength(call.id, 'utf8') : 0);
  for (const o of call.outputs) {
    const info = outputs.find((x) => x.name === o.name)!;
    if (info.type === 'string') return null;
    const dims = info.shape.map((d, i) => (i === 0 && call.layout.batched ? call.rows : d));
    if (!dims.every((d): d is number => typeof d === 'number')) return null;
    total += 128 + 6 * Buffer.byteLength(o.name, 'utf8') + 24 * dims.length;
    if (o.classification > 0) {
      const k = dims[dims.length - 1] ?? 1;
      const rows = k === 0 ? 0 : dims.reduce((p, d) => p * d, 1) / k;
      const top = Math.min(o.classification, k);
      const longest = labelBytes.slice(0, top).reduce((a, b) => a + b, 0);
      const digits = String(Math.max(0, k - 1)).length;
      // "value:index:label": binary adds a 4-byte length, JSON quotes, a comma and at worst \uXXXX escapes of the label.
      const perRow = top * (JSON_NUMBER_BYTES + 2 + digits) + (o.binary ? 4 * top + longest : 3 * top + 6 * longest);
      total += rows * perRow;
    } else {
      total += dims.reduce((p, d) => p * d, 1) * (o.binary ? elemBytes(info.type) : JSON_NUMBER_BYTES);
    }
  }
  return total;
}

interface RequestedOutput {
  name: string;
  binary: boolean;
  classification: number;
}

export interface TensorCall {
  id?: string;
  /** Rows (the batch dim) when batched, else 1. */
  rows: number;
  payload: Uint8Array;
  layout: TensorLayout;
  outputs: RequestedOutput[];
}

interface TensorIn {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  parameters?: Record<string, unknown>;
  data?: unknown;
}

/**
 * Checks a v2 infer request against the graph's inputs and outputs and lays it out for the batcher:
 * batched (row-interleaved, rows share runs) when `batchable` and every input's first dim agrees, else solo.
 */
export function parseTensorRequest(
  body: unknown,
  tail: Buffer | null,
  inputs: TensorInfo[],
  outputs: TensorInfo[],
  batchable: boolean,
  maxRows: number,
): TensorCall {
  const req = body as { id?: unknown; parameters?: Record<string, unknown>; inputs?: unknown; outputs?: unknown };
  if (!req || typeof req !== 'object' || !Array.isArray(req.inputs)) throw bad('the request needs an "inputs" array');
  const names = inputs.map((i) => i.name);
  if (req.inputs.length !== inputs.length)
    throw bad(`the model has ${inputs.length} input(s), ${names.join(', ')}; got ${req.inputs.length}`);
  const given = new Map<string, { info: TensorInfo; t: TensorIn; dims: number[] }>();
  for (const raw of req.inputs as TensorIn[]) {
    const t = raw ?? {};
    const info = inputs.find((i) => i.name === t.name);
    if (!info) throw bad(`unknown input ${echo(t.name)}; the model's inputs are ${names.join(', ')}`);
    if (given.has(info.name)) throw bad(`input "${info.name}" is given twice`);
    if (t.datatype !== V2_TYPES[info.type])
      throw bad(`input "${info.name}" must be ${V2_TYPES[info.type]}, got ${echo(t.datatype)}`);
    const s = t.shape;
    const want = `[${v2Shape(info.shape).join(',')}]`;
    if (
      !Array.isArray(s) ||
      s.length !== info.shape.length ||
      !s.every((d, k) => Number.isInteger(d) && d >= 0 && (typeof info.shape[k] !== 'number' || info.shape[k] === d))
    ) {
      throw bad(`input "${info.name}" must have shape ${want} (-1: any size), got ${echo(s)}`);
    }
    given.set(info.name, { info, t, dims: s as number[] });
  }
  const all = inputs.map((i) => given.get(i.name)!);
  const n0 = all[0]?.dims[0];
  const batched =
    batchable &&
    all.every((g) => g.dims.length > 0 && g.dims[0] === n0 && g.info.type !== 'string') &&
    n0 !== undefined &&
    n0 >= 1;
  if (batched && n0! > maxRows)
    throw new ServiceError('TOO_MANY_IMAGES', `at most ${maxRows} rows per request (see MAX_QUEUE), got ${n0}`);
  // Each input's bytes: binary data in input order from the tail, else JSON data.
  let offset = 0;
  const bytes: Uint8Array[] = [];
  for (const { info, t, dims } of all) {
    const count = dims.reduce((p, d) => p * d, 1);
    if (count > 1 << 28) throw bad(`input "${info.name}" is too large (${count} elements)`);
    const binSize = t.parameters?.['binary_data_size'];
    if (binSize !== undefined) {
      if (!tail)
        throw bad('binary_data_size is set but the request is not a binary (application/octet-stream) request');
      if (typeof binSize !== 'number' || !Number.isInteger(binSize) || binSize < 0 || offset + binSize > tail.length)
        throw bad(
          `input "${info.name}": binary_data_size ${echo(binSize)} does not fit the ${tail.length - offset} bytes left`,
        );
      const b = new Uint8Array(tail.subarray(offset, offset + binSize));
      offset += binSize;
      if (info.type === 'string' ? countStrings(b) !== count : b.length !== count * elemBytes(info.type)) {
        throw bad(
          `input "${info.name}" of shape [${dims.join(',')}] needs ${info.type === 'string' ? `${count} length-prefixed strings` : `${count * elemBytes(info.type)} bytes`} of binary data, got ${b.length} bytes`,
        );
      }
      bytes.push(b);
    } else {
      if (!Array.isArray(t.data)) throw bad(`input "${info.name}" has no "data"`);
      const flat = t.data.some(Array.isArray)
        ? flattenData(t.data, Math.max(1, dims.length), count, `input "${info.name}"`)
        : t.data;
      if (flat.length !== count)
        throw bad(`input "${info.name}" of shape [${dims.join(',')}] needs ${count} values, got ${flat.length}`);
      bytes.push(encodeJson(info.name, info.type, flat));
    }
  }
  if (tail && offset !== tail.length)
    throw bad(`the binary body has ${tail.length - offset} bytes beyond the inputs' binary_data_size`);
  // Outputs asked for: all when the request names none (absent, or an empty list as KServe v2 means it).
  const allBinary = req.parameters?.['binary_data_output'] === true;
  const outNames = outputs.map((o) => o.name);
  const none = req.outputs === undefined || (Array.isArray(req.outputs) && req.outputs.length === 0);
  const wanted = (none ? outNames.map((name) => ({ name })) : req.outputs) as {
    name?: unknown;
    parameters?: Record<string, unknown>;
  }[];
  if (!Array.isArray(wanted)) throw bad('"outputs" must be an array');
  const seen = new Set<string>();
  const requested = wanted.map((o): RequestedOutput => {
    if (!o || typeof o !== 'object') throw bad('each entry of "outputs" must be an object with a "name"');
    const info = outputs.find((x) => x.name === o.name);
    if (!info) throw bad(`unknown output ${echo(o.name)}; the model's outputs are ${outNames.join(', ')}`);
    if (seen.has(info.name))
      throw bad(`output "${info.name}" is requested more than once; ask for each output at most once`);
    seen.add(info.name);
    const p = o.parameters ?? {};
    const cls = p['classification'] ?? 0;
    if (typeof cls !== 'number' || !Number.isInteger(cls) || cls < 0)
      throw bad(`output "${info.name}": classification must be a non-negative integer`);
    if (cls > 0 && (info.type === 'string' || info.type === 'bool'))
      throw bad(`output "${info.name}" is ${V2_TYPES[info.type]}; classification needs numeric scores`);
    const binary = typeof p['binary_data'] === 'boolean' ? p['binary_data'] : allBinary;
    return { name: info.name, binary, classification: cls };
  });
  let payload: Uint8Array;
  if (batched && all.length > 1) {
    // Row-interleaved: row r of every input, then row r + 1.
    const rowBytes = bytes.map((b) => b.length / n0!);
    const total = rowBytes.reduce((a, b) => a + b, 0);
    payload = new Uint8Array(total * n0!);
    for (let r = 0; r < n0!; r++) {
      let off = r * total;
      bytes.forEach((b, k) => {
        payload.set(b.subarray(r * rowBytes[k]!, (r + 1) * rowBytes[k]!), off);
        off += rowBytes[k]!;
      });
    }
  } else if (bytes.length === 1) payload = bytes[0]!;
  else payload = new Uint8Array(Buffer.concat(bytes));
  const layout = tensorLayout(
    all.map((g) => ({ name: g.info.name, type: g.info.type, dims: batched ? g.dims.slice(1) : g.dims })),
    [...new Set(requested.map((o) => o.name))],
    batched,
  );
  return {
    ...(typeof req.id === 'string' ? { id: req.id } : {}),
    rows: batched ? n0! : 1,
    payload,
    layout,
    outputs: requested,
  };
}

export interface OutputOut {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: { binary_data_size: number };
  data?: (number | string | boolean)[];
}

/** A typed output → JSON values. */
function jsonValues(type: ElemType, v: OutputValues): (number | string | boolean)[] {
  if (Array.isArray(v)) return v;
  if (type === 'bool') return Array.from(v as Uint8Array, (x) => x !== 0);
  if (type === 'float16') return Array.from(v as Uint16Array, fromHalf);
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Array.from(v, (x) => Number(x));
  return Array.from(v as ArrayLike<number>);
}

const numbers = (type: ElemType, v: OutputValues): number[] => jsonValues(type, v).map(Number);

function stringBytes(strings: string[]): Buffer {
  return Buffer.concat(
    strings.flatMap((s) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

/** The response JSON and, for binary outputs, the bytes to append after it (in output order). */
export function encodeTensorResponse(
  call: TensorCall,
  results: { outputs: Record<string, OutputValues>; dims: Record<string, number[]> },
  outputs: TensorInfo[],
  labels: readonly string[],
  model: { name: string; version: number },
): { json: { model_name: string; model_version: string; id?: string; outputs: OutputOut[] }; binary: Buffer[] } {
  const binary: Buffer[] = [];
  const outs = call.outputs.map((o): OutputOut => {
    const info = outputs.find((x) => x.name === o.name)!;
    const values = results.outputs[o.name]!;
    const dims = results.dims[o.name]!;
    let shape = dims;
    let datatype = V2_TYPES[info.type];
    let data: (number | string | boolean)[] | null = null;
    let bytes: Buffer | null = null;
    if (o.classification > 0) {
      const k = dims[dims.length - 1] ?? 1;
      const rows = values.length / k;
      const top = Math.min(o.classification, k);
      const nums = numbers(info.type, values);
      const strings: string[] = [];
      for (let r = 0; r < rows; r++) {
        const row = nums.slice(r * k, (r + 1) * k);
        for (const i of topKIndices(row, top)) strings.push(`${row[i]!}:${i}:${labels[i] ?? ''}`);
      }
      shape = [...dims.slice(0, -1), top];
      datatype = 'BYTES';
      if (o.binary) bytes = stringBytes(strings);
      else data = strings;
    } else if (o.binary) {
      bytes = Array.isArray(values)
        ? stringBytes(values)
        : Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    } else {
      data = jsonValues(info.type, values);
    }
    if (bytes) {
      binary.push(bytes);
      return { name: o.name, datatype, shape, parameters: { binary_data_size: bytes.length } };
    }
    return { name: o.name, datatype, shape, data: data! };
  });
  return {
    json: {
      model_name: model.name,
      model_version: String(model.version),
      ...(call.id !== undefined ? { id: call.id } : {}),
      outputs: outs,
    },
    binary,
  };
}
