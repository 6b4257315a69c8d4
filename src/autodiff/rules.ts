// One vector-Jacobian rule per op: given the output gradients, emit one gradient per input (null = none).
import {
  type Builder,
  broadcastAxes,
  type GNode,
  GraphError,
  isStatic,
  OP_TYPES,
  type OpType,
  shapeStr,
  type Value,
} from '../onnx/index.js';

export interface VjpArgs {
  b: Builder;
  node: GNode;
  /** Input values ('' optional inputs are null). */
  x: (Value | null)[];
  /** Output values. */
  y: Value[];
  /** Gradient of the loss w.r.t. each output, null where none flows. */
  dy: (Value | null)[];
  /** Which inputs need a gradient. */
  need: boolean[];
}

export type Vjp = (a: VjpArgs) => (Value | null)[];

const fail = (a: VjpArgs, why: string): never => {
  throw new GraphError(`${a.node.op} (node ${a.node.name}): ${why}`);
};

/** Sums `grad` over the axes that were broadcast to produce it, giving `target`'s shape. */
export function unbroadcast(b: Builder, grad: Value, target: Value): Value {
  if (shapeStr(grad.shape) === shapeStr(target.shape)) return grad;
  const axes = broadcastAxes(grad.shape, target.shape);
  let r = axes.length ? b.reduceSum(grad, axes, true) : grad;
  if (shapeStr(r.shape) !== shapeStr(target.shape))
    r = isStatic(target.shape) ? b.reshape(r, target.shape) : b.reshapeLike(r, target);
  return r;
}

function attrInt(n: GNode, k: string, dflt: number): number {
  const a = n.attrs[k];
  return a && 'i' in a ? a.i : dflt;
}

function attrInts(n: GNode, k: string): number[] | null {
  const a = n.attrs[k];
  return a && 'ints' in a ? [...a.ints] : null;
}

function attrFloat(n: GNode, k: string, dflt: number): number {
  const a = n.attrs[k];
  return a && 'f' in a ? a.f : dflt;
}

/** Reads a constant int64 input (e.g. ReduceSum's axes) from the graph's initializers. */
function constInts(b: Builder, v: Value | null): number[] | null {
  if (!v) return null;
  const t = b.g.initializers.get(v.name);
  if (!t) return null;
  return Array.from(t.data as BigInt64Array, Number);
}

/** Gradient of a reduction: bring dy back to x's rank and broadcast it over the reduced axes. */
function reduceGrad(b: Builder, x: Value, dy: Value, axes: number[], keepdims: boolean, mean: boolean): Value {
  const r = x.shape.length;
  const ax = (axes.length ? axes : x.shape.map((_, i) => i)).map((a) => (a < 0 ? a + r : a));
  let g = dy;
  if (!keepdims)
    g = b.reshape(
      dy,
      x.shape.map((d, i) => (ax.includes(i) ? 1 : d)),
    );
  if (mean) {
    const dims = ax.map((i) => x.shape[i]!);
    if (dims.every((d) => typeof d === 'number')) {
      g = b.mul(g, b.scalar(1 / (dims as number[]).reduce((p, d) => p * d, 1), x.dtype));
    } else {
      // Symbolic count (e.g. the batch): count = ReduceSum of ones shaped like x.
      const ones = b.expandLike(b.scalar(1, x.dtype), x);
      g = b.div(g, b.reduceSum(ones, ax, true));
    }
  }
  return b.expandLike(g, x);
}

/** dA, dB for Y = op(A)·op(B), written as Gemms with transposes folded into the flags. */
function gemmGrads(b: Builder, A: Value, B: Value, dY: Value, tA: boolean, tB: boolean, alpha: number): [Value, Value] {
  const o = (ta: boolean, tb: boolean) => ({ transA: ta, transB: tb, alpha });
  if (!tA && !tB) return [b.gemm(dY, B, null, o(false, true)), b.gemm(A, dY, null, o(true, false))];
  if (!tA && tB) return [b.gemm(dY, B, null, o(false, false)), b.gemm(dY, A, null, o(true, false))];
  if (tA && !tB) return [b.gemm(B, dY, null, o(false, true)), b.gemm(A, dY, null, o(false, false))];
  return [b.gemm(B, dY, null, o(true, true)), b.gemm(dY, A, null, o(true, true))];
}

function swapLast(b: Builder, v: Value): Value {
  const r = v.shape.length;
  const perm = v.shape.map((_, i) => i);
  perm[r - 1] = r - 2;
  perm[r - 2] = r - 1;
  return b.transpose(v, perm);
}

const inverse = (perm: number[]) => perm.map((_, i) => perm.indexOf(i));

export const VJP = {
  Add: ({ b, x: [A, B], dy: [d] }) => [unbroadcast(b, d!, A!), unbroadcast(b, d!, B!)],
  Sub: ({ b, x: [A, B], dy: [d], need }) => [unbroadcast(b, d!, A!), need[1] ? unbroadcast(b, b.neg(d!), B!) : null],
  Mul: ({ b, x: [A, B], dy: [d], need }) => [
    need[0] ? unbroadcast(b, b.mul(d!, B!), A!) : null,
    need[1] ? unbroadcast(b, b.mul(d!, A!), B!) : null,
  ],
  Div: ({ b, x: [A, B], y: [Y], dy: [d], need }) => [
    need[0] ? unbroadcast(b, b.div(d!, B!), A!) : null,
    need[1] ? unbroadcast(b, b.neg(b.div(b.mul(d!, Y!), B!)), B!) : null,
  ],
  Pow: (a) => {
    if (a.need[1]) fail(a, 'gradient with respect to the exponent is not supported');
    const {
      b,
      x: [A, E],
      dy: [d],
    } = a;
    // d(A^E)/dA = E·A^(E-1)
    return [unbroadcast(b, b.mul(d!, b.mul(E!, b.pow(A!, b.sub(E!, b.scalar(1, E!.dtype))))), A!), null];
  },
  Neg: ({ b, dy: [d] }) => [b.neg(d!)],
  Sqrt: ({ b, y: [Y], dy: [d] }) => [b.div(b.mul(d!, b.scalar(0.5, Y!.dtype)), Y!)],
  Exp: ({ b, y: [Y], dy: [d] }) => [b.mul(d!, Y!)],
  Erf: ({ b, x: [X], dy: [d] }) => [
    b.mul(d!, b.mul(b.exp(b.neg(b.mul(X!, X!))), b.scalar(2 / Math.sqrt(Math.PI), X!.dtype))),
  ],
  Tanh: ({ b, y: [Y], dy: [d] }) => [b.mul(d!, b.sub(b.scalar(1, Y!.dtype), b.mul(Y!, Y!)))],
  Sigmoid: ({ b, y: [Y], dy: [d] }) => [b.mul(d!, b.mul(Y!, b.sub(b.scalar(1, Y!.dtype), Y!)))],
  Identity: ({ dy: [d] }) => [d!],
  Cast: ({ b, x: [X], dy: [d] }) => [
    X!.dtype === 'float32' || X!.dtype === 'float64' ? (X!.dtype === d!.dtype ? d! : b.cast(d!, X!.dtype)) : null,
  ],
  MatMul: ({ b, x: [A, B], dy: [d], need }) => [
    need[0] ? unbroadcast(b, b.matmul(d!, swapLast(b, B!)), A!) : null,
    need[1] ? unbroadcast(b, b.matmul(swapLast(b, A!), d!), B!) : null,
  ],
  Gemm: ({ b, node, x: [A, B, C], dy: [d], need }) => {
    const alpha = attrFloat(node, 'alpha', 1);
    const beta = attrFloat(node, 'beta', 1);
    const [dA, dB] = gemmGrads(
      b,
      A!,
      B!,
      d!,
      attrInt(node, 'transA', 0) === 1,
      attrInt(node, 'transB', 0) === 1,
      alpha,
    );
    const dC = C && need[2] ? unbroadcast(b, beta === 1 ? d! : b.mul(d!, b.scalar(beta, d!.dtype)), C) : null;
    return [need[0] ? dA : null, need[1] ? dB : null, dC];
  },
  Transpose: ({ b, node, dy: [d] }) => [b.transpose(d!, inverse(attrInts(node, 'perm') ?? [1, 0]))],
  Reshape: ({ b, x: [X], dy: [d] }) => [b.reshapeLike(d!, X!), null],
  LayerNormalization: (a) => {
    const {
      b,
      node,
      x: [X, scale, bias],
      y,
      dy: [d],
      need,
    } = a;
    if (y.length < 3) fail(a, 'backward needs the Mean and InvStdDev outputs: build the forward with layerNormStats');
    const r = X!.shape.length;
    const axis = ((attrInt(node, 'axis', -1) % r) + r) % r;
    const normAxes = X!.shape.map((_, i) => i).filter((i) => i >= axis);
    const lead = X!.shape.map((_, i) => i).filter((i) => i < axis);
    const [, mean32, invStd32] = y;
    const mean = mean32!.dtype === X!.dtype ? mean32 : b.cast(mean32!, X!.dtype);
    const invStd = invStd32!.dtype === X!.dtype ? invStd32 : b.cast(invStd32!, X!.dtype);
    const xhat = b.mul(b.sub(X!, mean!), invStd!);
    let dX: Value | null = null;
    if (need[0]) {
      // dx = invstd · (g − mean(g) − x̂ · mean(g·x̂)), g = dy·scale
      const g = b.mul(d!, scale!);
      const inner = b.sub(
        b.sub(g, b.reduceMean(g, normAxes, true)),
        b.mul(xhat, b.reduceMean(b.mul(g, xhat), normAxes, true)),
      );
      dX = b.mul(inner, invStd!);
    }
    const dScale = need[1] ? b.reduceSum(b.mul(d!, xhat), lead, false) : null;
    const dBias = bias && need[2] ? b.reduceSum(d!, lead, false) : null;
    return [dX, dScale, dBias];
  },
  ReduceMean: ({ b, node, x: [X], dy: [d] }) => [
    reduceGrad(b, X!, d!, attrInts(node, 'axes') ?? [], attrInt(node, 'keepdims', 1) === 1, true),
  ],
  ReduceSum: (a) => {
    const axes = constInts(a.b, a.x[1] ?? null);
    if (a.x[1] && axes === null) fail(a, 'axes must be a constant');
    return [reduceGrad(a.b, a.x[0]!, a.dy[0]!, axes ?? [], attrInt(a.node, 'keepdims', 1) === 1, false), null];
  },
  Softmax: ({ b, node, y: [Y], dy: [d] }) => {
    const axis = attrInt(node, 'axis', -1);
    return [b.mul(Y!, b.sub(d!, b.reduceSum(b.mul(d!, Y!), [axis], true)))];
  },
  LogSoftmax: ({ b, node, y: [Y], dy: [d] }) => {
    const axis = attrInt(node, 'axis', -1);
    return [b.sub(d!, b.mul(b.exp(Y!), b.reduceSum(d!, [axis], true)))];
  },
  OneHot: (a) => (a.need.some(Boolean) ? fail(a, 'OneHot is not differentiable') : [null, null, null]),
  Shape: () => [null],
  Expand: ({ b, x: [X], dy: [d] }) => [unbroadcast(b, d!, X!), null],
  Sum: ({ b, x, dy: [d], need }) => x.map((v, i) => (need[i] ? unbroadcast(b, d!, v!) : null)),
  // Split: concatenate the pieces' gradients (zeros for a piece that does not reach the loss).
  Split: ({ b, node, y, dy }) => [
    b.concat(
      y.map((v, i) => dy[i] ?? b.expandLike(b.scalar(0, v!.dtype), v!)),
      attrInt(node, 'axis', 0),
    ),
    null,
  ],
  // Concat: split the gradient back into the inputs' sizes along the axis.
  Concat: ({ b, node, x, dy: [d], need }) => {
    const r = x[0]!.shape.length;
    const a = attrInt(node, 'axis', 0);
    const ax = a < 0 ? a + r : a;
    const parts = b.split(
      d!,
      ax,
      x.map((v) => v!.shape[ax] as number),
    );
    return parts.map((p, i) => (need[i] ? p : null));
  },
  // Quantization ops only appear in int8 inference graphs, never in a graph that is differentiated.
  DynamicQuantizeLinear: (a) => fail(a, 'quantization is not differentiable'),
  MatMulInteger: (a) => fail(a, 'quantization is not differentiable'),
  QuantizeLinear: (a) => fail(a, 'quantization is not differentiable'),
  DequantizeLinear: (a) => fail(a, 'quantization is not differentiable'),
  // Control flow only appears in inference graphs (the batch-size dispatch of channel tiles).
  GreaterOrEqual: (a) => fail(a, 'comparisons are not differentiable'),
  If: (a) => fail(a, 'control flow is not differentiated (training graphs have none)'),
} satisfies Record<OpType, Vjp>;

// Compile-time guarantee above; this keeps OP_TYPES and the table in step at run time too.
for (const op of OP_TYPES) if (!(op in VJP)) throw new Error(`no VJP rule for ${op}`);
