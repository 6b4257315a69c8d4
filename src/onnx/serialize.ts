// Graph → ModelProto bytes (opset 17, IR 8) and ModelProto bytes → initializers, metadata and I/O.
import { VERSION } from '../util/version.js';
import { GraphError } from './errors.js';
import type { AttrValue, ConstTensor, Graph, Value } from './graph.js';
import {
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  onnx,
  type TensorProto,
  type ValueInfoProto,
} from './proto.js';
import { CODE_DTYPE, type Dim, type DType, ELEM_TYPES, type TypedData, typedArrayFor } from './types.js';

export const OPSET = 17;
export const IR_VERSION = 8;

export interface ModelOptions {
  metadata?: Record<string, string>;
  docString?: string;
}

function tensorProto(name: string, t: ConstTensor): TensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();
  return onnx.TensorProto.create({ name, dims: [...t.dims], dataType: ELEM_TYPES[t.dtype].code, rawData: bytes });
}

function valueInfo(v: Value): ValueInfoProto {
  const dim = (d: Dim) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d });
  return onnx.ValueInfoProto.create({
    name: v.name,
    type: { tensorType: { elemType: ELEM_TYPES[v.dtype].code, shape: { dim: v.shape.map(dim) } } },
  });
}

function attribute(name: string, a: AttrValue): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return onnx.AttributeProto.create({ name, type: T.INT, i: a.i });
  if ('f' in a) return onnx.AttributeProto.create({ name, type: T.FLOAT, f: a.f });
  if ('ints' in a) return onnx.AttributeProto.create({ name, type: T.INTS, ints: [...a.ints] });
  if ('floats' in a) return onnx.AttributeProto.create({ name, type: T.FLOATS, floats: [...a.floats] });
  if ('s' in a) return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(a.s) });
  if ('t' in a) return onnx.AttributeProto.create({ name, type: T.TENSOR, t: tensorProto('', a.t) });
  return onnx.AttributeProto.create({ name, type: T.GRAPH, g: graphProto(a.g) });
}

function graphProto(g: Graph): GraphProto {
  return onnx.GraphProto.create({
    name: g.name,
    node: g.nodes.map((n) =>
      onnx.NodeProto.create({
        name: n.name,
        opType: n.op,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      }),
    ),
    initializer: [...g.initializers].map(([name, t]) => tensorProto(name, t)),
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
  });
}

/** Serializes a graph as an ONNX model (default domain only). */
export function serializeModel(g: Graph, o: ModelOptions = {}): Uint8Array {
  if (g.outputs.length === 0) throw new GraphError(`graph '${g.name}' has no outputs`);
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'onnx-mixer',
    producerVersion: VERSION,
    docString: o.docString ?? '',
    metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: graphProto(g),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Every node of a graph, including those in subgraphs (If branches, loop bodies). */
export function allNodes(g: GraphProto): NodeProto[] {
  const out: NodeProto[] = [];
  for (const n of g.node as NodeProto[]) {
    out.push(n);
    for (const a of n.attribute) {
      if (a.g) out.push(...allNodes(a.g as GraphProto));
      for (const sub of a.graphs ?? []) out.push(...allNodes(sub as GraphProto));
    }
  }
  return out;
}

export interface ParsedModel {
  irVersion: number;
  opset: number;
  inputs: Value[];
  outputs: Value[];
  initializers: Map<string, ConstTensor>;
  metadata: Record<string, string>;
  opTypes: string[];
  nodeCount: number;
}

function decodeTensor(t: TensorProto): ConstTensor {
  const dtype = CODE_DTYPE[t.dataType];
  if (!dtype)
    throw new GraphError(`initializer '${t.name}': unsupported data type ${t.dataType}`, { code: 'MODEL_INVALID' });
  const dims = t.dims.map(Number);
  const n = dims.reduce((p, d) => p * d, 1);
  let data: TypedData;
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData.slice();
    const out = typedArrayFor(dtype, n);
    new Uint8Array(out.buffer).set(raw.subarray(0, out.byteLength));
    data = out;
  } else if (dtype === 'float32') data = Float32Array.from(t.floatData);
  else if (dtype === 'float64') data = Float64Array.from(t.doubleData);
  else if (dtype === 'int64') data = BigInt64Array.from(t.int64Data.map((x) => BigInt(x.toString())));
  else if (dtype === 'int32' || dtype === 'uint8' || dtype === 'bool') {
    data = typedArrayFor(dtype, n);
    (data as Int32Array | Uint8Array).set(t.int32Data);
  } else throw new GraphError(`initializer '${t.name}': no data`, { code: 'MODEL_INVALID' });
  if (data.length !== n)
    throw new GraphError(`initializer '${t.name}': ${data.length} elements for dims [${dims.join(',')}]`, {
      code: 'MODEL_INVALID',
    });
  return { dtype, dims, data };
}

function decodeValue(v: ValueInfoProto): Value {
  const tt = v.type?.tensorType;
  const dtype: DType | undefined = tt ? CODE_DTYPE[tt.elemType ?? 0] : undefined;
  if (!tt || !dtype)
    throw new GraphError(`value '${v.name}' is not a supported tensor type`, { code: 'MODEL_INVALID' });
  const shape = (tt.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0)));
  return { name: v.name ?? '', dtype, shape };
}

/** Decodes ModelProto bytes and checks there is a graph. Throws GraphError when the bytes are not an ONNX model. */
export function decodeModelProto(bytes: Uint8Array): { m: ModelProto; g: GraphProto } {
  let m: ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new GraphError(`not an ONNX model (${(e as Error).message})`, { code: 'MODEL_INVALID', cause: e });
  }
  const g = m.graph as GraphProto | null;
  if (!g || g.node.length === 0 || Number(m.irVersion) === 0)
    throw new GraphError('not an ONNX model (no graph)', { code: 'MODEL_INVALID' });
  return { m, g };
}

/** Parses ONNX model bytes. Throws GraphError on anything that is not a readable ONNX model. */
export function parseModel(bytes: Uint8Array): ParsedModel {
  const { m, g } = decodeModelProto(bytes);
  const initializers = new Map<string, ConstTensor>();
  for (const t of g.initializer as TensorProto[]) initializers.set(t.name, decodeTensor(t));
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps) metadata[p.key ?? ''] = p.value ?? '';
  const nodes = allNodes(g);
  return {
    irVersion: Number(m.irVersion),
    opset: Number(m.opsetImport.find((o) => !o.domain)?.version ?? 0),
    inputs: (g.input as ValueInfoProto[]).filter((v) => !initializers.has(v.name)).map(decodeValue),
    outputs: (g.output as ValueInfoProto[]).map(decodeValue),
    initializers,
    metadata,
    opTypes: [...new Set(nodes.map((n) => n.opType ?? ''))].sort(),
    nodeCount: nodes.length,
  };
}
