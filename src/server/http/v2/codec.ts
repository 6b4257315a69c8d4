// REST v2 infer bodies (JSON, or the binary tensor extension: a JSON head then tensor bytes) ↔ the neutral request and answer.
import { jsonValues, outputBytes } from '../../core/datatypes.js';
import type { InferRequest, InputTensor, OutputRequest, ResponseWire } from '../../core/types.js';
import { echo, ServiceError } from '../../errors.js';

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

interface RestTensor {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  parameters?: Record<string, unknown>;
  data?: unknown;
}

interface RestOutput {
  name?: unknown;
  parameters?: Record<string, unknown>;
}

/**
 * A v2 infer body → the neutral request: JSON `data` as listed values, binary inputs (binary_data_size) as their
 * slices of the tail, in request order. The core checks the tensors themselves.
 */
export function restInferRequest(body: unknown, headerLength: string | undefined): InferRequest {
  const { json, tail } = Buffer.isBuffer(body) ? splitBinaryBody(body, headerLength) : { json: body, tail: null };
  const req = json as { id?: unknown; parameters?: Record<string, unknown>; inputs?: unknown; outputs?: unknown };
  if (!req || typeof req !== 'object' || !Array.isArray(req.inputs)) throw bad('the request needs an "inputs" array');
  let offset = 0;
  const inputs = (req.inputs as (RestTensor | null)[]).map((raw): InputTensor => {
    const t = raw ?? {};
    const binSize = t.parameters?.['binary_data_size'];
    let data = t.data as InputTensor['data'];
    if (binSize !== undefined) {
      if (!tail)
        throw bad('binary_data_size is set but the request is not a binary (application/octet-stream) request');
      if (typeof binSize !== 'number' || !Number.isInteger(binSize) || binSize < 0 || offset + binSize > tail.length)
        throw bad(
          `input ${echo(t.name)}: binary_data_size ${echo(binSize)} does not fit the ${tail.length - offset} bytes left`,
        );
      data = tail.subarray(offset, offset + binSize);
      offset += binSize;
    }
    return { name: t.name as string, datatype: t.datatype as string, shape: t.shape as number[], data };
  });
  if (tail && offset !== tail.length)
    throw bad(`the binary body has ${tail.length - offset} bytes beyond the inputs' binary_data_size`);
  if (req.outputs !== undefined && !Array.isArray(req.outputs)) throw bad('"outputs" must be an array');
  const outputs = (req.outputs as (RestOutput | null)[] | undefined)?.map((o): OutputRequest => {
    if (!o || typeof o !== 'object') return o as unknown as OutputRequest;
    const p = o.parameters ?? {};
    const binary = p['binary_data'];
    return {
      name: o.name as string,
      classification: p['classification'],
      ...(typeof binary === 'boolean' ? { binary } : {}),
    };
  });
  return {
    ...(typeof req.id === 'string' ? { id: req.id } : {}),
    inputs,
    outputs: outputs ?? null,
    binaryOutputs: req.parameters?.['binary_data_output'] === true,
  };
}

interface RestOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: { binary_data_size: number };
  data?: (number | string | boolean)[];
}

/** A v2 answer: its JSON, and with binary outputs the whole body (JSON head, then the tensors) and the head's length. */
export interface RestAnswer {
  json: { model_name: string; model_version: string; id?: string; outputs: RestOutputTensor[] };
  binary: { body: Buffer; headerLength: number } | null;
}

/** The neutral answer → a v2 JSON body, or a binary-extension body when an output is binary. */
export const restWire: ResponseWire<RestAnswer> = {
  encode: (r) => {
    const tensors: Buffer[] = [];
    const outputs = r.outputs.map((o): RestOutputTensor => {
      const head = { name: o.name, datatype: o.datatype, shape: o.shape };
      if (!o.binary) return { ...head, data: jsonValues(o.datatype, o.data) };
      const b = outputBytes(o.data);
      tensors.push(b);
      return { ...head, parameters: { binary_data_size: b.length } };
    });
    const json = {
      model_name: r.model_name,
      model_version: r.model_version,
      ...(r.id !== undefined ? { id: r.id } : {}),
      outputs,
    };
    if (tensors.length === 0) return { json, binary: null };
    const header = Buffer.from(JSON.stringify(json), 'utf8');
    return { json, binary: { body: Buffer.concat([header, ...tensors]), headerLength: header.length } };
  },
  bytes: (a) => (a.binary ? a.binary.body.length : Buffer.byteLength(JSON.stringify(a.json), 'utf8')),
};
