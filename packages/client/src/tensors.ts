// The client's tensors: typed arrays ↔ v2 datatypes, and the binary tensor extension's request and response bodies.

/**
 * Every Open Inference Protocol (v2) datatype onnxruntime runs, with its element size in bytes (BYTES: 0, strings of
 * variable length). The server's element-type table (src/onnx/types.ts) names the same datatypes; a test keeps them equal.
 */
export const DATATYPE_BYTES = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: 0,
} as const satisfies Record<string, number>;

/** An Open Inference Protocol (v2) datatype: FP32, UINT8, …, BYTES (strings). */
export type Datatype = keyof typeof DATATYPE_BYTES;

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** A tensor: its values (row-major) and shape; `datatype` is inferred from the array unless given (FP16 and BOOL need it). */
export interface Tensor<D extends TensorData = TensorData> {
  data: D;
  shape: number[];
  datatype?: Datatype;
}

/** An output as it came back. */
export interface OutputTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/** The datatype a typed array carries (Uint8Array is UINT8; say BOOL explicitly; Uint16Array is UINT16 unless FP16). */
export function datatypeOf(data: TensorData): Datatype {
  if (Array.isArray(data)) return 'BYTES';
  if (data instanceof Float32Array) return 'FP32';
  if (data instanceof Float64Array) return 'FP64';
  if (data instanceof Int8Array) return 'INT8';
  if (data instanceof Uint8Array) return 'UINT8';
  if (data instanceof Int16Array) return 'INT16';
  if (data instanceof Uint16Array) return 'UINT16';
  if (data instanceof Int32Array) return 'INT32';
  if (data instanceof Uint32Array) return 'UINT32';
  if (data instanceof BigInt64Array) return 'INT64';
  if (data instanceof BigUint64Array) return 'UINT64';
  throw new TypeError('tensor data must be a typed array or an array of strings');
}

/** The wire bytes of a tensor: little-endian elements, or 4-byte-length-prefixed UTF-8 strings for BYTES. */
export function tensorBytes(data: TensorData): Uint8Array {
  if (Array.isArray(data)) {
    const parts: Uint8Array[] = [];
    for (const s of data) {
      const b = new TextEncoder().encode(s);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, b.length, true);
      parts.push(len, b);
    }
    return concat(parts);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Bytes of one output → a typed array of its datatype (copied, so it is aligned and owns its memory). */
export function decodeTensor(datatype: Datatype, bytes: Uint8Array): TensorData {
  if (datatype === 'BYTES') {
    const out: string[] = [];
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const dec = new TextDecoder();
    for (let i = 0; i + 4 <= bytes.length; ) {
      const n = dv.getUint32(i, true);
      out.push(dec.decode(bytes.subarray(i + 4, i + 4 + n)));
      i += 4 + n;
    }
    return out;
  }
  const size = DATATYPE_BYTES[datatype];
  if (size === undefined) throw new TypeError(`unknown datatype ${String(datatype)}`);
  const buf = bytes.slice().buffer;
  const n = bytes.length / size;
  switch (datatype) {
    case 'FP32':
      return new Float32Array(buf, 0, n);
    case 'FP64':
      return new Float64Array(buf, 0, n);
    case 'INT8':
      return new Int8Array(buf, 0, n);
    case 'INT16':
      return new Int16Array(buf, 0, n);
    case 'UINT16':
    case 'FP16':
      return new Uint16Array(buf, 0, n);
    case 'INT32':
      return new Int32Array(buf, 0, n);
    case 'UINT32':
      return new Uint32Array(buf, 0, n);
    case 'INT64':
      return new BigInt64Array(buf, 0, n);
    case 'UINT64':
      return new BigUint64Array(buf, 0, n);
    default:
      return new Uint8Array(buf, 0, n);
  }
}

/** JSON `data` values of an output (when a server answers in JSON) → a typed array. */
export function fromJson(datatype: Datatype, values: unknown[]): TensorData {
  const flat = values.flat(Infinity) as unknown[];
  switch (datatype) {
    case 'BYTES':
      return flat.map(String);
    case 'BOOL':
      return Uint8Array.from(flat, (v) => (v ? 1 : 0));
    case 'INT64':
      return BigInt64Array.from(flat, (v) => BigInt(v as number));
    case 'UINT64':
      return BigUint64Array.from(flat, (v) => BigInt(v as number));
    case 'FP16':
      return Float32Array.from(flat, Number);
    default: {
      const bytes = new Uint8Array(flat.length * DATATYPE_BYTES[datatype]);
      const arr = decodeTensor(datatype, bytes) as Float32Array;
      flat.forEach((v, i) => (arr[i] = Number(v)));
      return arr;
    }
  }
}
