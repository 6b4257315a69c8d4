// A model run's rows → the neutral answer (classification as "score:index:label" strings), and a bound on its size before the run.
import type { TensorInfo } from '../../onnx/inspect.js';
import { topKIndices } from '../../util/rank.js';
import type { ItemResult } from '../batcher.js';
import { elemBytes } from '../repository/contract.js';
import { jsonValues, V2_TYPES } from './datatypes.js';
import type { TensorCall } from './tensor-request.js';
import type { InferResponse, OutputTensor } from './types.js';

/** Longest JSON text of one number as JavaScript prints it (e.g. -1.7976931348623157e+308) plus its comma. */
const JSON_NUMBER_BYTES = 26;

/** What the request's id adds to the bound (JSON-escaped at worst 6 bytes per UTF-8 byte). */
export const idBytesBound = (id: string | undefined): number =>
  id !== undefined ? 6 * Buffer.byteLength(id, 'utf8') : 0;

/**
 * An upper bound on the bytes of the answer to `call` (JSON header plus binary tensors), computed before inference
 * from the requested outputs' graph shapes (the batch dim is the request's rows), their types and the label lengths;
 * null when an output's size is unknown until it runs (another dynamic dim, or strings).
 */
export function responseBytesBound(
  call: TensorCall,
  outputs: TensorInfo[],
  labels: readonly string[],
  modelName: string,
): number | null {
  // Label lengths, longest first: only classification outputs need them.
  let labelBytes: number[] | null = null;
  let total = 160 + 6 * Buffer.byteLength(modelName, 'utf8') + idBytesBound(call.id);
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
      labelBytes ??= labels.map((l) => Buffer.byteLength(l, 'utf8')).sort((a, b) => b - a);
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

/** The answer to `call` from its share of a model run. */
export function inferResponse(
  call: TensorCall,
  results: ItemResult,
  outputs: TensorInfo[],
  labels: readonly string[],
  model: { name: string; version: number },
): InferResponse {
  const outs = call.outputs.map((o): OutputTensor => {
    const info = outputs.find((x) => x.name === o.name)!;
    const values = results.outputs[o.name]!;
    const dims = results.dims[o.name]!;
    const datatype = V2_TYPES[info.type];
    if (o.classification === 0) return { name: o.name, datatype, shape: dims, data: values, binary: o.binary };
    const k = dims[dims.length - 1] ?? 1;
    const rows = values.length / k;
    const top = Math.min(o.classification, k);
    const nums = jsonValues(datatype, values).map(Number);
    const strings: string[] = [];
    for (let r = 0; r < rows; r++) {
      const row = nums.slice(r * k, (r + 1) * k);
      for (const i of topKIndices(row, top)) strings.push(`${row[i]!}:${i}:${labels[i] ?? ''}`);
    }
    return { name: o.name, datatype: 'BYTES', shape: [...dims.slice(0, -1), top], data: strings, binary: o.binary };
  });
  return {
    model_name: model.name,
    model_version: String(model.version),
    ...(call.id !== undefined ? { id: call.id } : {}),
    outputs: outs,
  };
}
