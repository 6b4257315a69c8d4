// Values of an input tensor as a list (JSON data, gRPC typed contents) → its bytes, checked against the graph's element type.
import type { ElemType } from '../../onnx/types.js';
import { echo, ServiceError } from '../errors.js';
import { elemBytes } from '../repository/contract.js';
import { lengthPrefixed, toHalf, V2_TYPES } from './datatypes.js';

const bad = (msg: string): ServiceError => new ServiceError('BAD_TENSOR', msg);

const INT_RANGE: Partial<Record<ElemType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 2 ** 32 - 1],
};

/** Listed values of one input → its bytes (strings: length-prefixed UTF-8). */
export function encodeValues(name: string, type: ElemType, values: readonly unknown[]): Uint8Array {
  const n = values.length;
  const where = (i: number) => `input "${name}" value ${i} is ${echo(values[i])}`;
  if (type === 'string') {
    values.forEach((v, i) => {
      if (typeof v !== 'string') throw bad(`${where(i)}, not a string (BYTES)`);
    });
    return new Uint8Array(lengthPrefixed(values as string[]));
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
export function countStrings(b: Uint8Array): number {
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
export function flattenData(data: readonly unknown[], maxDepth: number, count: number, what: string): unknown[] {
  const out: unknown[] = [];
  const stack: { a: readonly unknown[]; i: number }[] = [{ a: data, i: 0 }];
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
