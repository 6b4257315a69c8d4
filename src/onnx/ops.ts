// Opset-17 node emitters with the spec's attribute names and defaults, and build-time shape checks.
import { GraphError } from './errors.js';
import type { AttrValue, Graph, Value } from './graph.js';
import { broadcast, normAxis, reduceShape, reshapeTarget } from './shapes.js';
import { type Dim, type DType, isFloat, type Shape, shapeStr } from './types.js';

type Binary = 'Add' | 'Sub' | 'Mul' | 'Div' | 'Pow';
type Unary = 'Neg' | 'Sqrt' | 'Exp' | 'Erf' | 'Tanh' | 'Sigmoid' | 'Identity';

/** Emits nodes into a graph. Every method checks shapes and names the node on failure. */
export class Builder {
  private readonly consts = new Map<string, Value>();

  constructor(readonly g: Graph) {}

  private where(op: string, ...vs: Value[]): string {
    return `${op}(${vs.map((v) => `${v.name}${shapeStr(v.shape)}`).join(', ')})`;
  }

  private sameType(op: string, ...vs: Value[]): DType {
    const d = vs[0]!.dtype;
    for (const v of vs)
      if (v.dtype !== d)
        throw new GraphError(`${this.where(op, ...vs)}: mixed element types ${vs.map((x) => x.dtype).join(', ')}`);
    return d;
  }

  /** A scalar or small constant tensor, shared between uses. */
  constant(
    values: readonly number[] | readonly bigint[],
    dims: readonly number[] = [],
    dtype: DType = 'float32',
  ): Value {
    const key = `${dtype}|${dims.join(',')}|${values.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    let data;
    if (dtype === 'int64') data = BigInt64Array.from(values as readonly (number | bigint)[], (x) => BigInt(x));
    else if (dtype === 'float32') data = Float32Array.from(values as number[]);
    else if (dtype === 'float64') data = Float64Array.from(values as number[]);
    else if (dtype === 'int32') data = Int32Array.from(values as number[]);
    else data = Uint8Array.from(values as number[]);
    const v = this.g.initializer(this.g.fresh('const'), { dtype, dims, data });
    this.consts.set(key, v);
    return v;
  }

  scalar(x: number, dtype: DType = 'float32'): Value {
    return this.constant([x], [], dtype);
  }

  ints(xs: readonly number[]): Value {
    return this.constant(xs, [xs.length], 'int64');
  }

  binary(op: Binary, a: Value, b: Value, name?: string): Value {
    const dtype = this.sameType(op, a, b);
    const shape = broadcast(this.where(op, a, b), a.shape, b.shape);
    return this.g.node(op, [a, b], [{ dtype, shape, name }])[0]!;
  }
  add(a: Value, b: Value, name?: string): Value {
    return this.binary('Add', a, b, name);
  }
  sub(a: Value, b: Value, name?: string): Value {
    return this.binary('Sub', a, b, name);
  }
  mul(a: Value, b: Value, name?: string): Value {
    return this.binary('Mul', a, b, name);
  }
  div(a: Value, b: Value, name?: string): Value {
    return this.binary('Div', a, b, name);
  }
  pow(a: Value, b: Value, name?: string): Value {
    return this.binary('Pow', a, b, name);
  }

  unary(op: Unary, x: Value, name?: string): Value {
    if (op !== 'Identity' && !isFloat(x.dtype))
      throw new GraphError(`${this.where(op, x)}: needs a float input, got ${x.dtype}`);
    return this.g.node(op, [x], [{ dtype: x.dtype, shape: x.shape, name }])[0]!;
  }
  neg(x: Value): Value {
    return this.unary('Neg', x);
  }
  sqrt(x: Value): Value {
    return this.unary('Sqrt', x);
  }
  exp(x: Value): Value {
    return this.unary('Exp', x);
  }
  erf(x: Value): Value {
    return this.unary('Erf', x);
  }
  tanh(x: Value): Value {
    return this.unary('Tanh', x);
  }
  sigmoid(x: Value): Value {
    return this.unary('Sigmoid', x);
  }
  identity(x: Value, name?: string): Value {
    return this.unary('Identity', x, name);
  }

  cast(x: Value, to: DType, name?: string): Value {
    const code = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 }[to];
    return this.g.node('Cast', [x], [{ dtype: to, shape: x.shape, name }], { to: { i: code } })[0]!;
  }

  /** numpy matmul: 1-D operands are not used here; batch dims broadcast. */
  matmul(a: Value, b: Value, name?: string): Value {
    const w = this.where('MatMul', a, b);
    const dtype = this.sameType('MatMul', a, b);
    if (a.shape.length < 2 || b.shape.length < 2) throw new GraphError(`${w}: operands must have rank >= 2`);
    const k1 = a.shape[a.shape.length - 1]!;
    const k2 = b.shape[b.shape.length - 2]!;
    if (k1 !== k2) throw new GraphError(`${w}: inner dimensions ${String(k1)} and ${String(k2)} differ`);
    const batch = broadcast(w, a.shape.slice(0, -2), b.shape.slice(0, -2));
    const shape = [...batch, a.shape[a.shape.length - 2]!, b.shape[b.shape.length - 1]!];
    return this.g.node('MatMul', [a, b], [{ dtype, shape, name }])[0]!;
  }

  /** Y = alpha * op(A) op(B) + beta * C, with 2-D A and B. */
  gemm(
    a: Value,
    b: Value,
    c: Value | null,
    o: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {},
    name?: string,
  ): Value {
    const w = this.where('Gemm', a, b, ...(c ? [c] : []));
    const dtype = this.sameType('Gemm', a, b, ...(c ? [c] : []));
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new GraphError(`${w}: A and B must be 2-D`);
    const [m, k1] = o.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
    const [k2, n] = o.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
    if (k1 !== k2) throw new GraphError(`${w}: inner dimensions ${String(k1)} and ${String(k2)} differ`);
    if (c) broadcast(w, [m, n], c.shape);
    const attrs: Record<string, AttrValue> = {};
    if (o.transA) attrs['transA'] = { i: 1 };
    if (o.transB) attrs['transB'] = { i: 1 };
    if (o.alpha !== undefined && o.alpha !== 1) attrs['alpha'] = { f: o.alpha };
    if (o.beta !== undefined && o.beta !== 1) attrs['beta'] = { f: o.beta };
    return this.g.node('Gemm', c ? [a, b, c] : [a, b], [{ dtype, shape: [m, n], name }], attrs)[0]!;
  }

  transpose(x: Value, perm: readonly number[], name?: string): Value {
    const w = this.where('Transpose', x);
    if (perm.length !== x.shape.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
      throw new GraphError(`${w}: perm [${perm.join(',')}] is not a permutation of rank ${x.shape.length}`);
    }
    const shape = perm.map((p) => x.shape[p]!);
    return this.g.node('Transpose', [x], [{ dtype: x.dtype, shape, name }], { perm: { ints: perm } })[0]!;
  }

  /** Reshape to a target with numbers, -1 or the symbolic dim (at most one of the last two). */
  reshape(x: Value, target: readonly Dim[], name?: string): Value {
    const { shape, spec } = reshapeTarget(this.where('Reshape', x), x.shape, target);
    return this.g.node('Reshape', [x, this.ints(spec)], [{ dtype: x.dtype, shape, name }])[0]!;
  }

  /** Reshape to the runtime shape of `like` (used by gradients to undo a reshape). */
  reshapeLike(x: Value, like: Value): Value {
    return this.g.node('Reshape', [x, this.shapeOf(like)], [{ dtype: x.dtype, shape: like.shape }])[0]!;
  }

  /** One dimension of x's runtime shape, as an int64 [1]. */
  dimOf(x: Value, axis: number): Value {
    const ax = normAxis(this.where('Shape', x), axis, x.shape.length);
    return this.g.node('Shape', [x], [{ dtype: 'int64', shape: [1] }], { start: { i: ax }, end: { i: ax + 1 } })[0]!;
  }

  greaterOrEqual(a: Value, b: Value): Value {
    this.sameType('GreaterOrEqual', a, b);
    return this.g.node(
      'GreaterOrEqual',
      [a, b],
      [{ dtype: 'bool', shape: broadcast(this.where('GreaterOrEqual', a, b), a.shape, b.shape) }],
    )[0]!;
  }

  /**
   * If: runs `then` or `otherwise` (each given a builder on its own branch body, which may read this graph's values)
   * by the single-element bool `cond`. The branches must return the same number of values with matching dtypes and
   * ranks; the node's outputs take the then-branch's shapes, and `names` if given.
   */
  ifElse(
    cond: Value,
    then: (b: Builder) => readonly Value[],
    otherwise: (b: Builder) => readonly Value[],
    names: readonly string[] = [],
  ): Value[] {
    const w = this.where('If', cond);
    if (cond.dtype !== 'bool') throw new GraphError(`${w}: the condition must be bool`);
    const branch = (base: string, f: (b: Builder) => readonly Value[]) => {
      const body = this.g.subgraph(base);
      for (const v of f(new Builder(body))) body.output(v);
      return body;
    };
    const t = branch('then', then);
    const e = branch('else', otherwise);
    if (
      t.outputs.length !== e.outputs.length ||
      t.outputs.some((v, i) => v.dtype !== e.outputs[i]!.dtype || v.shape.length !== e.outputs[i]!.shape.length)
    )
      throw new GraphError(`${w}: the branches' outputs differ in number, type or rank`);
    return this.g.node(
      'If',
      [cond],
      t.outputs.map((v, i) => ({ dtype: v.dtype, shape: v.shape, name: names[i] })),
      { then_branch: { g: t }, else_branch: { g: e } },
    );
  }

  shapeOf(x: Value): Value {
    return this.g.node('Shape', [x], [{ dtype: 'int64', shape: [x.shape.length] }])[0]!;
  }

  /** Broadcasts `x` to the runtime shape of `like`. */
  expandLike(x: Value, like: Value): Value {
    broadcast(this.where('Expand', x, like), like.shape, x.shape);
    return this.g.node('Expand', [x, this.shapeOf(like)], [{ dtype: x.dtype, shape: like.shape }])[0]!;
  }

  /** LayerNormalization over axes [axis, rank); optionally also returns Mean and InvStdDev. */
  layerNorm(
    x: Value,
    scale: Value,
    bias: Value | null,
    o: { axis?: number; epsilon?: number; stats?: boolean } = {},
    name?: string,
  ): Value[] {
    const w = this.where('LayerNormalization', x, scale);
    const axis = normAxis(w, o.axis ?? -1, x.shape.length);
    const normShape = x.shape.slice(axis);
    if (shapeStr(scale.shape) !== shapeStr(normShape))
      throw new GraphError(`${w}: scale shape ${shapeStr(scale.shape)} must be ${shapeStr(normShape)}`);
    if (bias && shapeStr(bias.shape) !== shapeStr(normShape))
      throw new GraphError(`${w}: bias shape ${shapeStr(bias.shape)} must be ${shapeStr(normShape)}`);
    const statShape = x.shape.map((d, i) => (i < axis ? d : 1));
    const outs: { dtype: DType; shape: Shape; name?: string | undefined }[] = [
      { dtype: x.dtype, shape: x.shape, name },
    ];
    // Mean and InvStdDev have type U = float32 (stash_type 1) whatever the input type.
    if (o.stats) outs.push({ dtype: 'float32', shape: statShape }, { dtype: 'float32', shape: statShape });
    return this.g.node('LayerNormalization', bias ? [x, scale, bias] : [x, scale], outs, {
      axis: { i: o.axis ?? -1 },
      epsilon: { f: o.epsilon ?? 1e-5 },
    });
  }

  /** ReduceMean (opset 17: axes is an attribute). */
  reduceMean(x: Value, axes: readonly number[], keepdims: boolean, name?: string): Value {
    const shape = reduceShape(this.where('ReduceMean', x), x.shape, axes, keepdims);
    return this.g.node('ReduceMean', [x], [{ dtype: x.dtype, shape, name }], {
      axes: { ints: axes },
      keepdims: { i: keepdims ? 1 : 0 },
    })[0]!;
  }

  /** ReduceSum (opset 13+: axes is an input). */
  reduceSum(x: Value, axes: readonly number[], keepdims: boolean, name?: string): Value {
    const shape = reduceShape(this.where('ReduceSum', x), x.shape, axes, keepdims);
    return this.g.node('ReduceSum', [x, this.ints(axes)], [{ dtype: x.dtype, shape, name }], {
      keepdims: { i: keepdims ? 1 : 0 },
    })[0]!;
  }

  softmax(x: Value, axis = -1, name?: string): Value {
    normAxis(this.where('Softmax', x), axis, x.shape.length);
    return this.g.node('Softmax', [x], [{ dtype: x.dtype, shape: x.shape, name }], { axis: { i: axis } })[0]!;
  }

  logSoftmax(x: Value, axis = -1, name?: string): Value {
    normAxis(this.where('LogSoftmax', x), axis, x.shape.length);
    return this.g.node('LogSoftmax', [x], [{ dtype: x.dtype, shape: x.shape, name }], { axis: { i: axis } })[0]!;
  }

  /** OneHot along a new last axis: `off`/`on` values of `dtype`. */
  oneHot(indices: Value, depth: number, off: number, on: number, dtype: DType = 'float32'): Value {
    if (indices.dtype !== 'int64' && indices.dtype !== 'int32')
      throw new GraphError(`${this.where('OneHot', indices)}: indices must be integers`);
    return this.g.node(
      'OneHot',
      [indices, this.constant([depth], [], 'int64'), this.constant([off, on], [2], dtype)],
      [{ dtype, shape: [...indices.shape, depth] }],
      { axis: { i: -1 } },
    )[0]!;
  }

  sum(xs: readonly Value[]): Value {
    if (xs.length === 1) return xs[0]!;
    const dtype = this.sameType('Sum', ...xs);
    let shape: Shape = xs[0]!.shape;
    for (const x of xs.slice(1)) shape = broadcast(this.where('Sum', ...xs), shape, x.shape);
    return this.g.node('Sum', xs, [{ dtype, shape }])[0]!;
  }

  /** Split along `axis` into pieces of the given static sizes (opset 13+: sizes are an input). */
  split(x: Value, axis: number, sizes: readonly number[]): Value[] {
    const w = this.where('Split', x);
    const ax = normAxis(w, axis, x.shape.length);
    const total = sizes.reduce((p, q) => p + q, 0);
    if (x.shape[ax] !== total)
      throw new GraphError(`${w}: sizes [${sizes.join(',')}] do not add up to dim ${String(x.shape[ax])}`);
    return this.g.node(
      'Split',
      [x, this.ints(sizes)],
      sizes.map((n) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === ax ? n : d)) })),
      { axis: { i: ax } },
    );
  }

  /** Concat along a static `axis`; the other dims must agree. */
  concat(xs: readonly Value[], axis: number): Value {
    const w = this.where('Concat', ...xs);
    const dtype = this.sameType('Concat', ...xs);
    const ax = normAxis(w, axis, xs[0]!.shape.length);
    let total = 0;
    for (const x of xs) {
      if (x.shape.length !== xs[0]!.shape.length || x.shape.some((d, i) => i !== ax && d !== xs[0]!.shape[i]))
        throw new GraphError(`${w}: shapes differ off axis ${ax}`);
      if (typeof x.shape[ax] !== 'number') throw new GraphError(`${w}: the concat axis must be static`);
      total += x.shape[ax] as number;
    }
    return this.g.node('Concat', xs, [{ dtype, shape: xs[0]!.shape.map((d, i) => (i === ax ? total : d)) }], {
      axis: { i: ax },
    })[0]!;
  }

  /** DynamicQuantizeLinear: float x → (uint8 y, float scale, uint8 zero point), range from x's min and max. */
  dynamicQuantize(x: Value): [Value, Value, Value] {
    if (x.dtype !== 'float32') throw new GraphError(`${this.where('DynamicQuantizeLinear', x)}: needs float32`);
    const [y, s, z] = this.g.node(
      'DynamicQuantizeLinear',
      [x],
      [
        { dtype: 'uint8', shape: x.shape },
        { dtype: 'float32', shape: [] },
        { dtype: 'uint8', shape: [] },
      ],
    );
    return [y!, s!, z!];
  }

  /** MatMulInteger: 8-bit A·B (minus zero points) → int32, numpy-matmul shapes. */
  matmulInteger(a: Value, b: Value, aZero: Value | null, bZero: Value | null = null): Value {
    const w = this.where('MatMulInteger', a, b);
    for (const v of [a, b])
      if (v.dtype !== 'uint8' && v.dtype !== 'int8') throw new GraphError(`${w}: operands must be 8-bit integers`);
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new GraphError(`${w}: operands must be 2-D`);
    if (a.shape[1] !== b.shape[0])
      throw new GraphError(`${w}: inner dimensions ${String(a.shape[1])} and ${String(b.shape[0])} differ`);
    const ins = bZero ? [a, b, aZero, bZero] : aZero ? [a, b, aZero] : [a, b];
    return this.g.node('MatMulInteger', ins, [{ dtype: 'int32', shape: [a.shape[0]!, b.shape[1]!] }])[0]!;
  }

  /** QuantizeLinear: float x → 8-bit (the zero point's type), per tensor or along `axis` (per channel). */
  quantize(x: Value, scale: Value, zero: Value, axis?: number): Value {
    if (zero.dtype !== 'uint8' && zero.dtype !== 'int8')
      throw new GraphError(`${this.where('QuantizeLinear', x, scale, zero)}: zero point must be 8-bit`);
    return this.g.node(
      'QuantizeLinear',
      [x, scale, zero],
      [{ dtype: zero.dtype, shape: x.shape }],
      axis === undefined ? {} : { axis: { i: axis } },
    )[0]!;
  }

  /** DequantizeLinear: 8-bit x → float (x − zero)·scale, per tensor or along `axis`. */
  dequantize(x: Value, scale: Value, zero: Value, axis?: number): Value {
    if (zero.dtype !== x.dtype)
      throw new GraphError(`${this.where('DequantizeLinear', x, scale, zero)}: zero point type must match x`);
    return this.g.node(
      'DequantizeLinear',
      [x, scale, zero],
      [{ dtype: 'float32', shape: x.shape }],
      axis === undefined ? {} : { axis: { i: axis } },
    )[0]!;
  }
}
