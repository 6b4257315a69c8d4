// v2 datatype names of the onnxruntime element types, metadata shapes, and the wire forms of values shared by every protocol.
import type { TensorInfo } from '../../onnx/inspect.js';
import { ELEM_TYPES, type ElemType, type V2Datatype } from '../../onnx/types.js';
import type { OutputValues } from '../batcher.js';

/** Element type → its v2 datatype name. */
export const V2_TYPES = Object.fromEntries(Object.entries(ELEM_TYPES).map(([t, info]) => [t, info.v2])) as Record<
  ElemType,
  V2Datatype
>;

/** v2 metadata shape: dynamic or unknown dims are -1. */
export const v2Shape = (s: TensorInfo['shape']): number[] => s.map((d) => (typeof d === 'number' ? d : -1));

/** A graph tensor as v2 metadata lists it. */
export const tensorMetadata = (t: TensorInfo) => ({
  name: t.name,
  datatype: V2_TYPES[t.type],
  shape: v2Shape(t.shape),
});

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

/** Byte strings → the v2 binary BYTES form: each one after its 4-byte little-endian length. */
export function lengthPrefixed(items: readonly (Uint8Array | string)[]): Buffer {
  return Buffer.concat(
    items.flatMap((s) => {
      const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

/** An output's values as raw bytes (strings length-prefixed): what binary data and raw_output_contents carry. */
export function outputBytes(v: OutputValues): Buffer {
  return Array.isArray(v) ? lengthPrefixed(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** An output's values as JSON values of its v2 datatype. */
export function jsonValues(datatype: string, v: OutputValues): (number | string | boolean)[] {
  if (Array.isArray(v)) return v;
  if (datatype === 'BOOL') return Array.from(v as Uint8Array, (x) => x !== 0);
  if (datatype === 'FP16') return Array.from(v as Uint16Array, fromHalf);
  if (v instanceof BigInt64Array || v instanceof BigUint64Array) return Array.from(v, (x) => Number(x));
  return Array.from(v as ArrayLike<number>);
}
