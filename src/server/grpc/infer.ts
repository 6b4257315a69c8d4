// ModelInfer over gRPC: a request (raw_input_contents or typed contents) → the v2 tensor request the HTTP route parses, and the answer → raw_output_contents.
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
export function paramValue(p: GrpcParameter): boolean | number | string | undefined {
  switch (p.parameter_choice) {
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

const params = (m: Record<string, GrpcParameter> | undefined): Record<string, unknown> =>
  Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, paramValue(v)]));

function lengthPrefixed(items: Buffer[]): Buffer {
  return Buffer.concat(
    items.flatMap((b) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

function bigints(values: string[], signed: boolean, name: string): Buffer {
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

/** The JSON header and binary tail that parseTensorRequest takes; every output comes back binary. */
export function toTensorRequest(r: GrpcInferRequest): { json: object; tail: Buffer } {
  const raw = r.raw_input_contents ?? [];
  if (raw.length > 0 && raw.length !== r.inputs.length)
    throw bad(
      `raw_input_contents has ${raw.length} entries for ${r.inputs.length} inputs; give one per input, in order`,
    );
  const tail: Buffer[] = [];
  const inputs = r.inputs.map((t, k) => {
    const shape = t.shape.map(Number);
    const head = { name: t.name, datatype: t.datatype, shape, parameters: params(t.parameters) };
    if (raw.length > 0) {
      if (t.contents)
        throw bad(
          `input ${echo(t.name)} has contents, but raw_input_contents is used; use one or the other for all inputs`,
        );
      tail.push(raw[k]!);
      return { ...head, parameters: { ...head.parameters, binary_data_size: raw[k]!.length } };
    }
    const c = t.contents;
    const field = FIELD[t.datatype];
    if (!c || !field) {
      if (t.datatype === 'FP16')
        throw bad(
          `input ${echo(t.name)} is FP16: send it in raw_input_contents (InferTensorContents has no FP16 field)`,
        );
      if (!c) throw bad(`input ${echo(t.name)} has no contents and there is no raw_input_contents`);
      throw bad(`input ${echo(t.name)} has an unknown datatype ${echo(t.datatype)}`);
    }
    const other = (Object.keys(c) as (keyof GrpcContents)[]).find((f) => f !== field && (c[f]?.length ?? 0) > 0);
    if (other)
      throw bad(
        `input ${echo(t.name)} is ${echo(t.datatype)}, so its values go in contents.${field}, not contents.${other}`,
      );
    const values = c[field] ?? [];
    let bin: Buffer | null = null;
    if (field === 'bytes_contents') bin = lengthPrefixed(values as Buffer[]);
    else if (field === 'int64_contents' || field === 'uint64_contents')
      bin = bigints(values as string[], field === 'int64_contents', t.name);
    if (bin) {
      tail.push(bin);
      return { ...head, parameters: { ...head.parameters, binary_data_size: bin.length } };
    }
    return { ...head, data: values };
  });
  const outputs = (r.outputs ?? []).map((o) => ({
    name: o.name,
    parameters: { ...params(o.parameters), binary_data: true },
  }));
  return {
    json: {
      ...(r.id ? { id: r.id } : {}),
      inputs,
      ...(outputs.length > 0 ? { outputs } : {}),
      parameters: { ...params(r.parameters), binary_data_output: true },
    },
    tail: Buffer.concat(tail),
  };
}

/** The encoded (all-binary) response → ModelInferResponse with raw_output_contents. */
export function toGrpcResponse(
  json: {
    model_name: string;
    model_version: string;
    id?: string;
    outputs: { name: string; datatype: string; shape: number[] }[];
  },
  binary: Buffer[],
) {
  return {
    model_name: json.model_name,
    model_version: json.model_version,
    id: json.id ?? '',
    parameters: {},
    outputs: json.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, parameters: {} })),
    raw_output_contents: binary,
  };
}
