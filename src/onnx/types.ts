// Element types, symbolic shapes and typed-array mapping shared by the graph builder and the runtime.

/**
 * Every tensor element type onnxruntime runs, named as onnxruntime names them: its ONNX TensorProto.DataType code, its
 * size in bytes (strings: 0, variable length) and its Open Inference Protocol (v2) datatype.
 */
export const ELEM_TYPES = {
  float32: { code: 1, bytes: 4, v2: 'FP32' },
  uint8: { code: 2, bytes: 1, v2: 'UINT8' },
  int8: { code: 3, bytes: 1, v2: 'INT8' },
  uint16: { code: 4, bytes: 2, v2: 'UINT16' },
  int16: { code: 5, bytes: 2, v2: 'INT16' },
  int32: { code: 6, bytes: 4, v2: 'INT32' },
  int64: { code: 7, bytes: 8, v2: 'INT64' },
  string: { code: 8, bytes: 0, v2: 'BYTES' },
  bool: { code: 9, bytes: 1, v2: 'BOOL' },
  float16: { code: 10, bytes: 2, v2: 'FP16' },
  float64: { code: 11, bytes: 8, v2: 'FP64' },
  uint32: { code: 12, bytes: 4, v2: 'UINT32' },
  uint64: { code: 13, bytes: 8, v2: 'UINT64' },
} as const satisfies Record<string, { code: number; bytes: number; v2: string }>;

export type ElemType = keyof typeof ELEM_TYPES;
export type V2Datatype = (typeof ELEM_TYPES)[ElemType]['v2'];

/** ONNX TensorProto.DataType code → element type (codes onnxruntime cannot run, like bfloat16 or complex, are absent). */
export const ELEM_TYPE_OF_CODE: Record<number, ElemType> = Object.fromEntries(
  Object.entries(ELEM_TYPES).map(([t, info]) => [info.code, t as ElemType]),
);

/** The element types the graph builder emits (a subset of ElemType). */
export const DTYPES = [
  'float32',
  'float64',
  'uint8',
  'int8',
  'int32',
  'int64',
  'bool',
] as const satisfies readonly ElemType[];
export type DType = (typeof DTYPES)[number];

/** A dimension: a number, or a symbol such as 'N' or 'N*64' (a known multiple of a symbol). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export type TypedData = Float32Array | Float64Array | Uint8Array | Int8Array | Int32Array | BigInt64Array;

/** ONNX TensorProto.DataType code → a type the graph builder emits. */
export const CODE_DTYPE: Record<number, DType> = Object.fromEntries(DTYPES.map((d) => [ELEM_TYPES[d].code, d]));

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float64';
}

/** Parses 'N' → {sym:'N', k:1}, 'N*64' → {sym:'N', k:64}; numbers → null. */
export function symbolic(d: Dim): { sym: string; k: number } | null {
  if (typeof d === 'number') return null;
  const m = /^([A-Za-z_][\w]*)(?:\*(\d+))?$/.exec(d);
  if (!m) return { sym: d, k: 1 };
  return { sym: m[1]!, k: m[2] ? Number(m[2]) : 1 };
}

/** A symbol times a constant, in canonical form. */
export function symTimes(sym: string, k: number): Dim {
  return k === 1 ? sym : `${sym}*${k}`;
}

export function shapeStr(s: Shape): string {
  return `[${s.join(',')}]`;
}

export function isStatic(s: Shape): s is readonly number[] {
  return s.every((d) => typeof d === 'number');
}

export function typedArrayFor(dtype: DType, n: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
  }
}
