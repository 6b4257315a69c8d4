// Reads any ONNX model's interface without decoding weights: I/O (every tensor type), metadata, initializer sizes, external data, FLOPs.
import { GraphError } from './errors.js';
import { type GraphProto, type NodeProto, onnx, type TensorProto, type ValueInfoProto } from './proto.js';

/** Tensor element types, named as onnxruntime names them. */
export type ElemType = 'float32' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64' | 'string' | 'bool' | 'float16' | 'float64' | 'uint32' | 'uint64';

/** ONNX TensorProto.DataType code → element type (codes ORT cannot run, like bfloat16 or complex, are absent). */
export const ELEM_TYPES: Record<number, ElemType> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};

/** A graph input or output: a dimension is a number, a symbol (dim_param) or null (unknown). */
export interface TensorInfo {
  name: string;
  type: ElemType;
  shape: (number | string | null)[];
}

export interface ModelInterface {
  irVersion: number;
  opset: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  metadata: Record<string, string>;
  opTypes: string[];
  nodeCount: number;
  /** Elements of the floating-point initializers of rank >= 1 (weights; integer shape constants and scalars left out). */
  parameters: number;
  /** Multiply-adds per image of MatMul, Gemm and Conv nodes, from their weights and propagated spatial sizes (batch 1). */
  macs: number;
  /** `location` of every externally stored initializer. */
  externalData: string[];
  /** Op type of the node producing each graph output. */
  producers: Record<string, string>;
}

function tensorInfo(v: ValueInfoProto): TensorInfo {
  const tt = v.type?.tensorType;
  const type = tt ? ELEM_TYPES[tt.elemType ?? 0] : undefined;
  if (!tt || !type) throw new GraphError(`'${v.name}' is not a tensor of a type onnxruntime supports`);
  const dims = tt.shape?.dim ?? [];
  const shape = dims.map((d) => (d.dimParam ? d.dimParam : d.dimValue !== null && d.dimValue !== undefined && Number(d.dimValue) > 0 ? Number(d.dimValue) : null));
  return { name: v.name ?? '', type, shape };
}

const numel = (dims: readonly unknown[]): number => dims.reduce<number>((p, d) => p * Number(d), 1);

function attrInts(n: NodeProto, name: string): number[] | null {
  const a = n.attribute.find((x) => x.name === name);
  return a?.ints ? a.ints.map(Number) : null;
}

/** Spatial size after a windowed op (Conv, pools) with kernel k, stride s, pads and dilation. */
function windowOut(size: number, k: number, s: number, padA: number, padB: number, d: number, autoPad: string): number {
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / s);
  if (autoPad === 'VALID') return Math.floor((size - (k - 1) * d - 1) / s) + 1;
  return Math.floor((size + padA + padB - (k - 1) * d - 1) / s) + 1;
}

const SPATIAL_KEEPING = new Set(['Relu', 'Clip', 'BatchNormalization', 'Add', 'Mul', 'Sub', 'Div', 'Sigmoid', 'HardSwish', 'HardSigmoid', 'LeakyRelu', 'Identity', 'Dropout', 'Cast', 'Tanh', 'Erf', 'PRelu', 'Elu', 'Selu', 'Transpose']);

/** Estimates MACs per image: Conv from the propagated [H,W] of its input, MatMul/Gemm from a 2-D weight initializer. */
function estimateMacs(g: GraphProto, inputs: TensorInfo[], inits: Map<string, TensorProto>): number {
  const hw = new Map<string, [number, number]>();
  for (const i of inputs) {
    const s = i.shape;
    if (s.length !== 4) continue;
    const nchw = s[1] === 1 || s[1] === 3;
    const [h, w] = nchw ? [s[2], s[3]] : [s[1], s[2]];
    if (typeof h === 'number' && typeof w === 'number') hw.set(i.name, [h, w]);
  }
  let macs = 0;
  for (const n of g.node as NodeProto[]) {
    const op = n.opType ?? '';
    const x = n.input[0] ?? '';
    const inHw = hw.get(x);
    const ap = n.attribute.find((a) => a.name === 'auto_pad')?.s;
    const autoPad = ap && ap.length > 0 ? new TextDecoder().decode(ap) : 'NOTSET';
    if (op === 'Conv' || op === 'MaxPool' || op === 'AveragePool') {
      const w = op === 'Conv' ? inits.get(n.input[1] ?? '') : undefined;
      const k = attrInts(n, 'kernel_shape') ?? (w ? w.dims.slice(2).map(Number) : null);
      if (!inHw || !k || k.length !== 2) continue;
      const s = attrInts(n, 'strides') ?? [1, 1];
      const p = attrInts(n, 'pads') ?? [0, 0, 0, 0];
      const d = attrInts(n, 'dilations') ?? [1, 1];
      const out: [number, number] = [windowOut(inHw[0], k[0]!, s[0]!, p[0]!, p[2]!, d[0]!, autoPad), windowOut(inHw[1], k[1]!, s[1]!, p[1]!, p[3]!, d[1]!, autoPad)];
      for (const o of n.output) hw.set(o, out);
      if (w && w.dims.length === 4) macs += numel(w.dims) * out[0] * out[1];
    } else if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') {
      if (inHw) for (const o of n.output) hw.set(o, [1, 1]);
    } else if (SPATIAL_KEEPING.has(op)) {
      const known = n.input.map((i) => hw.get(i)).find((v) => v !== undefined);
      if (known) for (const o of n.output) hw.set(o, known);
    } else if (op === 'MatMul' || op === 'Gemm') {
      const w = inits.get(n.input[1] ?? '');
      if (w && w.dims.length === 2) macs += numel(w.dims) * (inHw ? inHw[0] * inHw[1] : 1);
    }
  }
  return macs;
}

/** Reads a model's interface. Throws GraphError when the bytes are not an ONNX model. */
export function inspectModel(bytes: Uint8Array): ModelInterface {
  let m;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new GraphError(`not an ONNX model (${(e as Error).message})`);
  }
  const g = m.graph as GraphProto | null;
  if (!g || g.node.length === 0 || Number(m.irVersion) === 0) throw new GraphError('not an ONNX model (no graph)');
  const inits = new Map<string, TensorProto>();
  for (const t of g.initializer as TensorProto[]) inits.set(t.name, t);
  const externalData: string[] = [];
  let parameters = 0;
  for (const t of inits.values()) {
    if ([1, 10, 11, 16].includes(t.dataType) && t.dims.length > 0) parameters += numel(t.dims);
    if (t.dataLocation === 1) {
      const loc = t.externalData.find((e) => e.key === 'location')?.value;
      externalData.push(loc ?? '');
    }
  }
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps) metadata[p.key ?? ''] = p.value ?? '';
  const inputs = (g.input as ValueInfoProto[]).filter((v) => !inits.has(v.name ?? '')).map(tensorInfo);
  const outputs = (g.output as ValueInfoProto[]).map(tensorInfo);
  const producers: Record<string, string> = {};
  for (const n of g.node as NodeProto[]) for (const o of n.output) if (outputs.some((x) => x.name === o)) producers[o] = n.opType ?? '';
  return {
    irVersion: Number(m.irVersion),
    opset: Number(m.opsetImport.find((o) => !o.domain)?.version ?? 0),
    inputs,
    outputs,
    metadata,
    opTypes: [...new Set(g.node.map((n) => n.opType ?? ''))].sort(),
    nodeCount: g.node.length,
    parameters,
    macs: estimateMacs(g, inputs, inits),
    externalData,
    producers,
  };
}
