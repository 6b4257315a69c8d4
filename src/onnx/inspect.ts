// Reads any ONNX model's interface without decoding weights: I/O (every tensor type), metadata, initializer sizes, external data, FLOPs.
import { GraphError } from './errors.js';
import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from './proto.js';
import { allNodes, decodeModelProto } from './serialize.js';
import { ELEM_TYPE_OF_CODE, type ElemType } from './types.js';

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
  /** Op types of every node, subgraphs included. */
  opTypes: string[];
  /** Nodes, subgraphs included. */
  nodeCount: number;
  /**
   * Elements of the floating-point initializers of rank >= 1 and of the 8-bit ones of rank >= 2 (quantized weight
   * matrices); integer shape constants, zero points and scalars are left out.
   */
  parameters: number;
  /** Element count of each floating-point, 8-bit or int32 initializer of rank >= 1, by name. */
  weights: Record<string, number>;
  /** Multiply-adds per image of MatMul, Gemm and Conv nodes, from their weights and propagated spatial sizes (batch 1). */
  macs: number;
  /** `location` of every externally stored initializer. */
  externalData: string[];
  /** Op type of the node producing each graph output. */
  producers: Record<string, string>;
}

function tensorInfo(v: ValueInfoProto): TensorInfo {
  const tt = v.type?.tensorType;
  const type = tt ? ELEM_TYPE_OF_CODE[tt.elemType ?? 0] : undefined;
  if (!tt || !type)
    throw new GraphError(`'${v.name}' is not a tensor of a type onnxruntime supports`, { code: 'MODEL_INVALID' });
  const dims = tt.shape?.dim ?? [];
  const shape = dims.map((d) =>
    d.dimParam
      ? d.dimParam
      : d.dimValue !== null && d.dimValue !== undefined && Number(d.dimValue) > 0
        ? Number(d.dimValue)
        : null,
  );
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

const ELEMENTWISE = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Relu',
  'Clip',
  'BatchNormalization',
  'Sigmoid',
  'HardSwish',
  'HardSigmoid',
  'LeakyRelu',
  'Identity',
  'Dropout',
  'Cast',
  'Tanh',
  'Erf',
  'PRelu',
  'Elu',
  'Selu',
  'Gelu',
  'Softmax',
  'LogSoftmax',
  'LayerNormalization',
  'InstanceNormalization',
  'Sqrt',
  'Exp',
  'Neg',
  'Abs',
  'Where',
  'Max',
  'Min',
]);

/** numpy broadcasting of two shapes (null when they disagree). */
function broadcast(a: number[], b: number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(Math.max(x, y));
  }
  return out;
}

function intValues(t: TensorProto): number[] | null {
  if (t.dataType !== 7) return null;
  if (t.rawData && t.rawData.length > 0) {
    const b = t.rawData;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return Array.from({ length: b.length / 8 }, (_, i) => Number(dv.getBigInt64(i * 8, true)));
  }
  return t.int64Data.map(Number);
}

/**
 * Multiply-adds per image of MatMul, Gemm and Conv nodes: shapes are propagated from the inputs (every dynamic dim = 1)
 * through common ops; a node whose shapes stay unknown counts its weight's size once.
 */
function estimateMacs(g: GraphProto, inputs: TensorInfo[], inits: Map<string, TensorProto>): number {
  const shape = new Map<string, number[]>();
  const ints = new Map<string, number[]>();
  for (const i of inputs)
    shape.set(
      i.name,
      i.shape.map((d) => (typeof d === 'number' ? d : 1)),
    );
  const known = (t: TensorProto): void => {
    shape.set(t.name, t.dims.map(Number));
    const v = intValues(t);
    if (v) ints.set(t.name, v);
  };
  for (const t of inits.values()) known(t);
  let macs = 0;
  // An If (a batch-size dispatch) counts its else branch: the one batch 1 takes.
  const walk = (nodes: NodeProto[]): void => {
    for (const n of nodes) {
      const op = n.opType ?? '';
      const ins = n.input.map((x) => shape.get(x));
      const x = ins[0];
      const set = (s: number[] | null | undefined, k = 0): void => {
        if (s && n.output[k]) shape.set(n.output[k]!, s);
      };
      if (op === 'Constant') {
        const t = n.attribute.find((a) => a.name === 'value')?.t as TensorProto | undefined;
        if (t) {
          set(t.dims.map(Number));
          const v = intValues(t);
          if (v && n.output[0]) ints.set(n.output[0], v);
        }
      } else if (op === 'MatMul') {
        const w = ins[1];
        if (x && w && x.length >= 1 && w.length >= 1) {
          const a = x.length === 1 ? [1, x[0]!] : x;
          const b = w.length === 1 ? [w[0]!, 1] : w;
          const batch = broadcast(a.slice(0, -2), b.slice(0, -2)) ?? a.slice(0, -2);
          const [m, k, nn] = [a[a.length - 2]!, a[a.length - 1]!, b[b.length - 1]!];
          macs += batch.reduce((p, d) => p * d, 1) * m * k * nn;
          set([...batch, ...(x.length === 1 ? [] : [m]), ...(w.length === 1 ? [] : [nn])]);
        } else if (inits.get(n.input[1] ?? '')) macs += numel(inits.get(n.input[1] ?? '')!.dims);
      } else if (op === 'Gemm') {
        const w = ins[1];
        const ta = n.attribute.find((a) => a.name === 'transA')?.i;
        const tb = n.attribute.find((a) => a.name === 'transB')?.i;
        if (x && w && x.length === 2 && w.length === 2) {
          const [m, k] = Number(ta ?? 0) ? [x[1]!, x[0]!] : [x[0]!, x[1]!];
          const nn = Number(tb ?? 0) ? w[0]! : w[1]!;
          macs += m * k * nn;
          set([m, nn]);
        } else if (w) macs += numel(w);
      } else if (op === 'Conv' || op === 'MaxPool' || op === 'AveragePool') {
        const w = op === 'Conv' ? ins[1] : undefined;
        const k = attrInts(n, 'kernel_shape') ?? (w ? w.slice(2) : null);
        if (x && x.length === 4 && k && k.length === 2) {
          const s = attrInts(n, 'strides') ?? [1, 1];
          const p = attrInts(n, 'pads') ?? [0, 0, 0, 0];
          const d = attrInts(n, 'dilations') ?? [1, 1];
          const ap = n.attribute.find((a) => a.name === 'auto_pad')?.s;
          const autoPad = ap && ap.length > 0 ? new TextDecoder().decode(ap) : 'NOTSET';
          const ho = windowOut(x[2]!, k[0]!, s[0]!, p[0]!, p[2]!, d[0]!, autoPad);
          const wo = windowOut(x[3]!, k[1]!, s[1]!, p[1]!, p[3]!, d[1]!, autoPad);
          const cout = w ? w[0]! : x[1]!;
          if (w) macs += x[0]! * numel(w) * ho * wo;
          set([x[0]!, cout, ho, wo]);
        } else if (w) macs += numel(w);
      } else if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') {
        if (x) set([...x.slice(0, 2), ...x.slice(2).map(() => 1)]);
      } else if (op === 'Flatten') {
        const axis = Number(n.attribute.find((a) => a.name === 'axis')?.i ?? 1);
        if (x) {
          const ax = axis < 0 ? axis + x.length : axis;
          set([x.slice(0, ax).reduce((p, d) => p * d, 1), x.slice(ax).reduce((p, d) => p * d, 1)]);
        }
      } else if (op === 'Reshape') {
        const target = ints.get(n.input[1] ?? '');
        if (x && target) {
          const out = target.map((d, i) => (d === 0 ? x[i]! : d));
          const known = out.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
          set(out.map((d) => (d === -1 ? numel(x) / known : d)));
        }
      } else if (op === 'Transpose') {
        const perm = attrInts(n, 'perm');
        if (x) set(perm ? perm.map((i) => x[i]!) : [...x].reverse());
      } else if (op === 'ReduceMean' || op === 'ReduceSum' || op === 'ReduceMax') {
        const axes = attrInts(n, 'axes') ?? ints.get(n.input[1] ?? '') ?? null;
        const keep = Number(n.attribute.find((a) => a.name === 'keepdims')?.i ?? 1);
        if (x) {
          const ax = (axes ?? x.map((_, i) => i)).map((a) => (a < 0 ? a + x.length : a));
          set(keep ? x.map((d, i) => (ax.includes(i) ? 1 : d)) : x.filter((_, i) => !ax.includes(i)));
        }
      } else if (op === 'Concat') {
        const axis = Number(n.attribute.find((a) => a.name === 'axis')?.i ?? 0);
        if (ins.every((s) => s) && x) {
          const ax = axis < 0 ? axis + x.length : axis;
          set(x.map((d, i) => (i === ax ? ins.reduce((p, s) => p + s![i]!, 0) : d)));
        }
      } else if (op === 'Gather') {
        const axis = Number(n.attribute.find((a) => a.name === 'axis')?.i ?? 0);
        const idx = ins[1];
        if (x && idx) set([...x.slice(0, axis), ...idx, ...x.slice(axis + 1)]);
      } else if (op === 'If') {
        const body = n.attribute.find((a) => a.name === 'else_branch')?.g as GraphProto | undefined;
        if (body) {
          for (const t of body.initializer as TensorProto[]) known(t);
          walk(body.node as NodeProto[]);
          body.output.forEach((o, k) => set(shape.get(o.name ?? ''), k));
        }
      } else if (ELEMENTWISE.has(op)) {
        let s: number[] | null = x ?? null;
        const operands =
          op === 'LayerNormalization' || op === 'BatchNormalization' || op === 'InstanceNormalization'
            ? ins.slice(0, 1)
            : ins;
        for (const o of operands.slice(1)) s = s && o ? broadcast(s, o) : null;
        set(s);
      }
    }
  };
  walk(g.node as NodeProto[]);
  return macs;
}

/** Reads a model's interface. Throws GraphError when the bytes are not an ONNX model. */
export function inspectModel(bytes: Uint8Array): ModelInterface {
  const { m, g } = decodeModelProto(bytes);
  const inits = new Map<string, TensorProto>();
  for (const t of g.initializer as TensorProto[]) inits.set(t.name, t);
  const externalData: string[] = [];
  let parameters = 0;
  const weights: Record<string, number> = {};
  for (const t of inits.values()) {
    const rank = t.dims.length;
    const float = [1, 10, 11, 16].includes(t.dataType);
    const int8 = [2, 3].includes(t.dataType);
    if ((float && rank > 0) || (int8 && rank >= 2)) parameters += numel(t.dims);
    if ((float || int8 || t.dataType === 6) && rank > 0) weights[t.name] = numel(t.dims);
    if (t.dataLocation === 1) {
      const loc = t.externalData.find((e) => e.key === 'location')?.value;
      externalData.push(loc ?? '');
    }
  }
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps) metadata[p.key ?? ''] = p.value ?? '';
  const inputs = (g.input as ValueInfoProto[]).filter((v) => !inits.has(v.name ?? '')).map(tensorInfo);
  const outputs = (g.output as ValueInfoProto[]).map(tensorInfo);
  const nodes = allNodes(g);
  const producers: Record<string, string> = {};
  for (const n of g.node as NodeProto[])
    for (const o of n.output) if (outputs.some((x) => x.name === o)) producers[o] = n.opType ?? '';
  return {
    irVersion: Number(m.irVersion),
    opset: Number(m.opsetImport.find((o) => !o.domain)?.version ?? 0),
    inputs,
    outputs,
    metadata,
    opTypes: [...new Set(nodes.map((n) => n.opType ?? ''))].sort(),
    nodeCount: nodes.length,
    parameters,
    weights,
    macs: estimateMacs(g, inputs, inits),
    externalData,
    producers,
  };
}
