// ModelInfer over gRPC: a request's raw_input_contents or typed contents → the neutral request, and the neutral answer → raw_output_contents.
import { lengthPrefixed, outputBytes } from '../core/datatypes.js';
import type { InferRequest, InferResponse, InputTensor, ResponseWire } from '../core/types.js';
import { echo, ServiceError } from '../errors.js';

export interface GrpcParameter {
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  parameter_choice?: string;
}

export interface GrpcContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: string[];
  uint_contents?: number[];
  uint64_contents?: string[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

export interface GrpcInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, GrpcParameter>;
  inputs: {
    name: string;
    datatype: string;
    shape: string[];
    parameters: Record<string, GrpcParameter>;
    contents: GrpcContents | null;
  }[];
  outputs: { name: string; parameters: Record<string, GrpcParameter> }[];
  raw_input_contents: Buffer[];
}

const bad = (msg: string): ServiceError => new ServiceError('BAD_TENSOR', msg);

/** An InferParameter → its JS value. */
export function paramValue(p: GrpcParameter | undefined): boolean | number | string | undefined {
  switch (p?.parameter_choice) {
    case 'bool_param':
      return p.bool_param;
    case 'int64_param':
      return Number(p.int64_param);
    case 'string_param':
      return p.string_param;
    default:
      return undefined;
  }
}

/** proto3 64-bit integers (strings) → little-endian bytes. */
function bigints(values: string[], signed: boolean, name: string): Uint8Array {
  const out = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => {
    try {
      if (signed) out.writeBigInt64LE(BigInt(v), i * 8);
      else out.writeBigUint64LE(BigInt(v), i * 8);
    } catch {
      throw bad(`input ${echo(name)} value ${i} (${echo(v)}) is out of range`);
    }
  });
  return out;
}

/** The field of InferTensorContents a datatype uses. */
const FIELD: Record<string, keyof GrpcContents> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};

/** One input's typed contents → listed values, or bytes where the proto field is not a JS value list (64-bit, BYTES). */
function contentsData(t: GrpcInferRequest['inputs'][number]): InputTensor['data'] {
  const c = t.contents;
  const field = FIELD[t.datatype];
  if (!c || !field) {
    if (t.datatype === 'FP16')
      throw bad(`input ${echo(t.name)} is FP16: send it in raw_input_contents (InferTensorContents has no FP16 field)`);
    if (!c) throw bad(`input ${echo(t.name)} has no contents and there is no raw_input_contents`);
    throw bad(`input ${echo(t.name)} has an unknown datatype ${echo(t.datatype)}`);
  }
  const other = (Object.keys(c) as (keyof GrpcContents)[]).find((f) => f !== field && (c[f]?.length ?? 0) > 0);
  if (other)
    throw bad(
      `input ${echo(t.name)} is ${echo(t.datatype)}, so its values go in contents.${field}, not contents.${other}`,
    );
  const values = c[field] ?? [];
  if (field === 'bytes_contents') return new Uint8Array(lengthPrefixed(values as Buffer[]));
  if (field === 'int64_contents' || field === 'uint64_contents')
    return bigints(values as string[], field === 'int64_contents', t.name);
  return values;
}

/** ModelInferRequest → the neutral request; every output comes back as raw bytes. */
export function toInferRequest(r: GrpcInferRequest): InferRequest {
  const raw = r.raw_input_contents ?? [];
  if (raw.length > 0 && raw.length !== r.inputs.length)
    throw bad(
      `raw_input_contents has ${raw.length} entries for ${r.inputs.length} inputs; give one per input, in order`,
    );
  const inputs = r.inputs.map((t, k): InputTensor => {
    if (raw.length > 0 && t.contents)
      throw bad(
        `input ${echo(t.name)} has contents, but raw_input_contents is used; use one or the other for all inputs`,
      );
    return {
      name: t.name,
      datatype: t.datatype,
      shape: t.shape.map(Number),
      data: raw.length > 0 ? raw[k]! : contentsData(t),
    };
  });
  return {
    ...(r.id ? { id: r.id } : {}),
    inputs,
    outputs: (r.outputs ?? []).map((o) => ({
      name: o.name,
      classification: paramValue(o.parameters?.['classification']),
    })),
    binaryOutputs: true,
  };
}

export interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, never>;
  outputs: { name: string; datatype: string; shape: number[]; parameters: Record<string, never> }[];
  raw_output_contents: Buffer[];
}

/** The neutral answer → ModelInferResponse with every output in raw_output_contents. */
export const grpcWire: ResponseWire<GrpcInferResponse> = {
  encode: (r: InferResponse) => ({
    model_name: r.model_name,
    model_version: r.model_version,
    id: r.id ?? '',
    parameters: {},
    outputs: r.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, parameters: {} })),
    raw_output_contents: r.outputs.map((o) => outputBytes(o.data)),
  }),
  bytes: (g) =>
    Buffer.byteLength(JSON.stringify({ ...g, raw_output_contents: undefined }), 'utf8') +
    g.raw_output_contents.reduce((a, b) => a + b.length, 0),
};
