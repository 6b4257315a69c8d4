// Element types, symbolic shapes and typed-array mapping shared by the graph builder and the runtime.

/** Element types we emit; the names match onnxruntime's Tensor type strings. */
export type DType = 'float32' | 'float64' | 'uint8' | 'int8' | 'int32' | 'int64' | 'bool';

/** A dimension: a number, or a symbol such as 'N' or 'N*64' (a known multiple of a symbol). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export type TypedData = Float32Array | Float64Array | Uint8Array | Int8Array | Int32Array | BigInt64Array;

/** ONNX TensorProto.DataType codes. */
export const DTYPE_CODE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

export const CODE_DTYPE: Record<number, DType> = Object.fromEntries(
  Object.entries(DTYPE_CODE).map(([k, v]) => [v, k as DType]),
) as Record<number, DType>;

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
