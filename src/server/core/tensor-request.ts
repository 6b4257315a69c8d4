// A neutral infer request checked against the graph's inputs and outputs and laid out for the model's batcher.
import type { TensorInfo } from '../../onnx/inspect.js';
import { echo, ServiceError } from '../errors.js';
import { elemBytes } from '../repository/contract.js';
import { type TensorLayout, tensorLayout } from '../repository/instance.js';
import { V2_TYPES, v2Shape } from './datatypes.js';
import { countStrings, encodeValues, flattenData } from './tensor-values.js';
import type { InferRequest, InputTensor } from './types.js';

const bad = (msg: string): ServiceError => new ServiceError('BAD_TENSOR', msg);

/** An output to answer with, checked. */
export interface ChosenOutput {
  name: string;
  binary: boolean;
  classification: number;
}

/** A checked request, ready for the batcher. */
export interface TensorCall {
  id?: string;
  /** Rows (the batch dim) when batched, else 1. */
  rows: number;
  payload: Uint8Array;
  layout: TensorLayout;
  outputs: ChosenOutput[];
}

/**
 * Rows a request asks for, read before anything is converted (admission counts them): the first input's batch size
 * when the model batches, else 1; 1 if malformed (prepare then says why).
 */
export function rowsAsked(req: InferRequest, batchable: boolean): number {
  if (!batchable) return 1;
  const n = req.inputs[0]?.shape?.[0];
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** One input's bytes, from its raw bytes or its listed values. */
function inputBytes(info: TensorInfo, t: InputTensor, dims: number[]): Uint8Array {
  const count = dims.reduce((p, d) => p * d, 1);
  if (count > 1 << 28) throw bad(`input "${info.name}" is too large (${count} elements)`);
  const d = t.data;
  if (d instanceof Uint8Array) {
    if (info.type === 'string' ? countStrings(d) !== count : d.length !== count * elemBytes(info.type))
      throw bad(
        `input "${info.name}" of shape [${dims.join(',')}] needs ${info.type === 'string' ? `${count} length-prefixed strings` : `${count * elemBytes(info.type)} bytes`} of binary data, got ${d.length} bytes`,
      );
    return d;
  }
  if (!Array.isArray(d)) throw bad(`input "${info.name}" has no "data"`);
  const flat = d.some(Array.isArray) ? flattenData(d, Math.max(1, dims.length), count, `input "${info.name}"`) : d;
  if (flat.length !== count)
    throw bad(`input "${info.name}" of shape [${dims.join(',')}] needs ${count} values, got ${flat.length}`);
  return encodeValues(info.name, info.type, flat);
}

/** The outputs asked for: all when the request names none (absent, or an empty list as KServe v2 means it). */
function chooseOutputs(req: InferRequest, outputs: TensorInfo[]): ChosenOutput[] {
  const outNames = outputs.map((o) => o.name);
  const wanted = req.outputs === null || req.outputs.length === 0 ? outNames.map((name) => ({ name })) : req.outputs;
  if (!Array.isArray(wanted)) throw bad('"outputs" must be an array');
  const seen = new Set<string>();
  return wanted.map((o): ChosenOutput => {
    if (!o || typeof o !== 'object') throw bad('each entry of "outputs" must be an object with a "name"');
    const info = outputs.find((x) => x.name === o.name);
    if (!info) throw bad(`unknown output ${echo(o.name)}; the model's outputs are ${outNames.join(', ')}`);
    if (seen.has(info.name))
      throw bad(`output "${info.name}" is requested more than once; ask for each output at most once`);
    seen.add(info.name);
    const cls = ('classification' in o ? o.classification : undefined) ?? 0;
    if (typeof cls !== 'number' || !Number.isInteger(cls) || cls < 0)
      throw bad(`output "${info.name}": classification must be a non-negative integer`);
    if (cls > 0 && (info.type === 'string' || info.type === 'bool'))
      throw bad(`output "${info.name}" is ${V2_TYPES[info.type]}; classification needs numeric scores`);
    const binary = 'binary' in o && typeof o.binary === 'boolean' ? o.binary : req.binaryOutputs;
    return { name: info.name, binary, classification: cls };
  });
}

/** Row r of every input, then row r + 1 (inputs that share a batch dim run as one row-major payload). */
function interleave(bytes: Uint8Array[], rows: number): Uint8Array {
  const rowBytes = bytes.map((b) => b.length / rows);
  const total = rowBytes.reduce((a, b) => a + b, 0);
  const payload = new Uint8Array(total * rows);
  for (let r = 0; r < rows; r++) {
    let off = r * total;
    bytes.forEach((b, k) => {
      payload.set(b.subarray(r * rowBytes[k]!, (r + 1) * rowBytes[k]!), off);
      off += rowBytes[k]!;
    });
  }
  return payload;
}

/**
 * Checks a request against the graph's inputs and outputs and lays it out for the batcher: batched (row-interleaved,
 * rows share runs) when `batchable` and every input's first dim agrees, else solo.
 */
export function prepareCall(
  req: InferRequest,
  inputs: TensorInfo[],
  outputs: TensorInfo[],
  batchable: boolean,
  maxRows: number,
): TensorCall {
  if (!req || typeof req !== 'object' || !Array.isArray(req.inputs)) throw bad('the request needs an "inputs" array');
  const names = inputs.map((i) => i.name);
  if (req.inputs.length !== inputs.length)
    throw bad(`the model has ${inputs.length} input(s), ${names.join(', ')}; got ${req.inputs.length}`);
  const given = new Map<string, { info: TensorInfo; t: InputTensor; dims: number[] }>();
  for (const raw of req.inputs) {
    const t = raw ?? ({} as InputTensor);
    const info = inputs.find((i) => i.name === t.name);
    if (!info) throw bad(`unknown input ${echo(t.name)}; the model's inputs are ${names.join(', ')}`);
    if (given.has(info.name)) throw bad(`input "${info.name}" is given twice`);
    if (t.datatype !== V2_TYPES[info.type])
      throw bad(`input "${info.name}" must be ${V2_TYPES[info.type]}, got ${echo(t.datatype)}`);
    const s = t.shape as unknown;
    if (
      !Array.isArray(s) ||
      s.length !== info.shape.length ||
      !s.every((d, k) => Number.isInteger(d) && d >= 0 && (typeof info.shape[k] !== 'number' || info.shape[k] === d))
    )
      throw bad(
        `input "${info.name}" must have shape [${v2Shape(info.shape).join(',')}] (-1: any size), got ${echo(s)}`,
      );
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
  const bytes = all.map(({ info, t, dims }) => inputBytes(info, t, dims));
  const chosen = chooseOutputs(req, outputs);
  const payload =
    batched && all.length > 1
      ? interleave(bytes, n0!)
      : bytes.length === 1
        ? bytes[0]!
        : new Uint8Array(Buffer.concat(bytes));
  const layout = tensorLayout(
    all.map((g) => ({ name: g.info.name, type: g.info.type, dims: batched ? g.dims.slice(1) : g.dims })),
    [...new Set(chosen.map((o) => o.name))],
    batched,
  );
  return {
    ...(typeof req.id === 'string' ? { id: req.id } : {}),
    rows: batched ? n0! : 1,
    payload,
    layout,
    outputs: chosen,
  };
}
