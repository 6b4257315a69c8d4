// Finite-difference check of every VJP rule: analytic gradients from the backward pass vs central differences in ORT.
import t from 'tap';
import { backward, geluComposite, tiledGeluMlp, VJP } from '../../src/autodiff/index.js';
import { gelu } from '../../src/model/forward.js';
import { Builder, type DType, Graph, OP_TYPES, serializeModel, type Value } from '../../src/onnx/index.js';
import { type HostTensor, Session } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';

interface Case {
  op: string;
  dtype: DType;
  inputs: { shape: number[]; positive?: boolean }[];
  build: (b: Builder, xs: Value[]) => Value;
}

const f64: DType = 'float64';
const cases: Case[] = [
  { op: 'Add', dtype: f64, inputs: [{ shape: [2, 3, 4] }, { shape: [4] }], build: (b, [x, y]) => b.add(x!, y!) },
  { op: 'Sub', dtype: f64, inputs: [{ shape: [3, 1] }, { shape: [2, 3, 4] }], build: (b, [x, y]) => b.sub(x!, y!) },
  { op: 'Mul', dtype: f64, inputs: [{ shape: [2, 3, 4] }, { shape: [3, 1] }], build: (b, [x, y]) => b.mul(x!, y!) },
  {
    op: 'Div',
    dtype: f64,
    inputs: [{ shape: [2, 3] }, { shape: [3], positive: true }],
    build: (b, [x, y]) => b.div(x!, y!),
  },
  {
    op: 'Pow',
    dtype: f64,
    inputs: [{ shape: [2, 3], positive: true }],
    build: (b, [x]) => b.pow(x!, b.scalar(2.5, f64)),
  },
  { op: 'Neg', dtype: f64, inputs: [{ shape: [5] }], build: (b, [x]) => b.neg(x!) },
  { op: 'Sqrt', dtype: f64, inputs: [{ shape: [5], positive: true }], build: (b, [x]) => b.sqrt(x!) },
  { op: 'Exp', dtype: f64, inputs: [{ shape: [2, 3] }], build: (b, [x]) => b.exp(x!) },
  // ORT implements Erf for float32 only: coarser step and tolerance.
  { op: 'Erf', dtype: 'float32', inputs: [{ shape: [2, 5] }], build: (b, [x]) => b.erf(x!) },
  {
    op: 'Split',
    dtype: f64,
    inputs: [{ shape: [2, 5, 3] }],
    build: (b, [x]) => {
      const [p, q] = b.split(x!, 1, [2, 3]);
      return b.add(b.mul(p!, p!), b.reduceSum(q!, [1], true));
    },
  },
  {
    op: 'Concat',
    dtype: f64,
    inputs: [{ shape: [2, 2, 3] }, { shape: [2, 1, 3] }],
    build: (b, [x, y]) => b.mul(b.concat([x!, y!], 1), b.concat([y!, x!], 1)),
  },
  // Composite with its own VJP (training graphs' GELU): float32 because of Erf.
  { op: 'gelu composite', dtype: 'float32', inputs: [{ shape: [3, 7] }], build: (b, [x]) => geluComposite(b, x!) },
  // The training graphs' channel MLP on row tiles (3 tiles of 2 rows), gradients for the input and all four weights.
  {
    op: 'tiled GELU MLP composite',
    dtype: 'float32',
    inputs: [{ shape: [6, 4] }, { shape: [5, 4] }, { shape: [5] }, { shape: [4, 5] }, { shape: [4] }],
    build: (b, [x, w1, b1, w2, b2]) => tiledGeluMlp(b, x!, { w1: w1!, b1: b1!, w2: w2!, b2: b2! }, 3, 2),
  },
  { op: 'Tanh', dtype: f64, inputs: [{ shape: [2, 5] }], build: (b, [x]) => b.tanh(x!) },
  { op: 'Sigmoid', dtype: f64, inputs: [{ shape: [2, 5] }], build: (b, [x]) => b.sigmoid(x!) },
  { op: 'Identity', dtype: f64, inputs: [{ shape: [4] }], build: (b, [x]) => b.identity(x!) },
  {
    op: 'Cast',
    dtype: 'float32',
    inputs: [{ shape: [2, 3] }],
    build: (b, [x]) => b.mul(b.cast(b.cast(x!, f64), 'float32'), x!),
  },
  {
    op: 'MatMul',
    dtype: f64,
    inputs: [{ shape: [3, 4] }, { shape: [2, 4, 5] }],
    build: (b, [x, y]) => b.matmul(x!, y!),
  },
  {
    op: 'MatMul',
    dtype: f64,
    inputs: [{ shape: [2, 3, 4] }, { shape: [4, 2] }],
    build: (b, [x, y]) => b.matmul(x!, y!),
  },
  {
    op: 'Gemm',
    dtype: f64,
    inputs: [{ shape: [3, 4] }, { shape: [5, 4] }, { shape: [5] }],
    build: (b, [x, y, z]) => b.gemm(x!, y!, z!, { transB: true }),
  },
  {
    op: 'Gemm',
    dtype: f64,
    inputs: [{ shape: [4, 3] }, { shape: [4, 5] }, { shape: [3, 1] }],
    build: (b, [x, y, z]) => b.gemm(x!, y!, z!, { transA: true, alpha: 0.7, beta: 1.3 }),
  },
  {
    op: 'Gemm',
    dtype: f64,
    inputs: [{ shape: [3, 4] }, { shape: [4, 5] }],
    build: (b, [x, y]) => b.gemm(x!, y!, null),
  },
  {
    op: 'Gemm',
    dtype: f64,
    inputs: [{ shape: [4, 3] }, { shape: [5, 4] }],
    build: (b, [x, y]) => b.gemm(x!, y!, null, { transA: true, transB: true }),
  },
  { op: 'Transpose', dtype: f64, inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.transpose(x!, [2, 0, 1]) },
  { op: 'Reshape', dtype: f64, inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.reshape(x!, [6, 4]) },
  {
    op: 'LayerNormalization',
    dtype: f64,
    inputs: [{ shape: [3, 4, 6] }, { shape: [6] }, { shape: [6] }],
    build: (b, [x, s, z]) => b.layerNorm(x!, s!, z!, { axis: -1, epsilon: 1e-6, stats: true })[0]!,
  },
  { op: 'ReduceMean', dtype: f64, inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.reduceMean(x!, [1], false) },
  { op: 'ReduceMean', dtype: f64, inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.reduceMean(x!, [0, 2], true) },
  { op: 'ReduceSum', dtype: f64, inputs: [{ shape: [2, 3, 4] }], build: (b, [x]) => b.reduceSum(x!, [2], false) },
  { op: 'Softmax', dtype: f64, inputs: [{ shape: [3, 5] }], build: (b, [x]) => b.softmax(x!, -1) },
  { op: 'LogSoftmax', dtype: f64, inputs: [{ shape: [3, 5] }], build: (b, [x]) => b.logSoftmax(x!, -1) },
  {
    op: 'Expand',
    dtype: f64,
    inputs: [{ shape: [3, 1] }, { shape: [2, 3, 4] }],
    build: (b, [x, y]) => b.mul(b.expandLike(x!, y!), y!),
  },
  {
    op: 'Sum',
    dtype: f64,
    inputs: [{ shape: [2, 3] }, { shape: [3] }, { shape: [2, 1] }],
    build: (b, xs) => b.sum(xs),
  },
];

/** Builds f(inputs) → loss = Σ f·R (fixed random R), appends the backward pass, and returns a session and feeds. */
async function setup(c: Case, seed: number) {
  const rng = new Rng(seed);
  const g = new Graph('fd');
  const b = new Builder(g);
  const xs = c.inputs.map((s, i) => g.input(`x${i}`, c.dtype, s.shape));
  const y = c.build(b, xs);
  const n = (y.shape as number[]).reduce((p, d) => p * d, 1);
  const R = Array.from({ length: n }, () => rng.normal());
  const loss = b.reduceSum(b.mul(y, b.constant(R, y.shape as number[], c.dtype)), [], false, 'loss');
  const grads = backward(b, loss, xs);
  g.output(loss);
  xs.forEach((x) => g.output(b.identity(grads.get(x.name)!, `${x.name}_grad`)));
  const session = await Session.create(serializeModel(g), { threads: 1 });
  const Arr = c.dtype === 'float64' ? Float64Array : Float32Array;
  const feeds: Record<string, HostTensor> = {};
  c.inputs.forEach((s, i) => {
    const m = s.shape.reduce((p, d) => p * d, 1);
    feeds[`x${i}`] = {
      dtype: c.dtype,
      dims: s.shape,
      data: Arr.from(Array.from({ length: m }, () => (s.positive ? 0.5 + rng.next() : rng.normal()))),
    };
  });
  return { session, feeds, xs };
}

const opsTested = new Set<string>();
for (const [k, c] of cases.entries()) {
  opsTested.add(c.op);
  t.test(`${c.op} #${k}: analytic gradient matches central differences`, async (t) => {
    const { session, feeds, xs } = await setup(c, 100 + k);
    const out = await session.run(feeds);
    const h = c.dtype === 'float64' ? 1e-6 : 1e-2;
    const tol = c.dtype === 'float64' ? 1e-6 : 2e-3;
    let worst = 0;
    for (const x of xs) {
      const analytic = out[`${x.name}_grad`]!.data as Float64Array;
      const base = feeds[x.name]!.data as Float64Array;
      for (let i = 0; i < base.length; i++) {
        const plus = base.slice();
        plus[i] = base[i]! + h;
        const minus = base.slice();
        minus[i] = base[i]! - h;
        const lp = (await session.run({ ...feeds, [x.name]: { ...feeds[x.name]!, data: plus } }, ['loss']))['loss']!
          .data[0] as number;
        const lm = (await session.run({ ...feeds, [x.name]: { ...feeds[x.name]!, data: minus } }, ['loss']))['loss']!
          .data[0] as number;
        const numeric = (lp - lm) / (2 * h);
        const err = Math.abs(numeric - analytic[i]!) / Math.max(1, Math.abs(numeric));
        worst = Math.max(worst, err);
      }
    }
    t.comment(`${c.op} (${c.dtype}): worst error ${worst.toExponential(2)}`);
    t.ok(worst < tol, `worst error ${worst.toExponential(2)} < ${tol}`);
    await session.release();
  });
}

t.test('every differentiable op in the table has a finite-difference case', async (t) => {
  const nonDiff = new Set([
    'OneHot',
    'Shape',
    'DynamicQuantizeLinear',
    'MatMulInteger',
    'QuantizeLinear',
    'DequantizeLinear',
    'GreaterOrEqual',
    'If',
  ]);
  for (const op of OP_TYPES) if (!nonDiff.has(op)) t.ok(opsTested.has(op), `${op} is covered`);
  t.equal(Object.keys(VJP).length, OP_TYPES.length);
});

t.test(
  'non-differentiable ops: OneHot and Shape give no gradient; asking through OneHot values fails by name',
  async (t) => {
    const g = new Graph('nd');
    const b = new Builder(g);
    const x = g.input('x', 'float32', [2, 3]);
    const labels = g.input('labels', 'int64', [2]);
    const oh = b.oneHot(labels, 3, 0, 1);
    const loss = b.reduceSum(b.mul(b.mul(x, oh), b.cast(b.reshape(b.shapeOf(x), [2, 1]), 'float32')), [], false);
    const grads = backward(b, loss, [x]);
    t.ok(grads.get('x'));
    const g2 = new Graph('bad');
    const b2 = new Builder(g2);
    const w = g2.input('w', 'float32', [2]);
    t.throws(
      () =>
        VJP.OneHot({
          b: b2,
          node: { op: 'OneHot', name: 'OneHot_7', inputs: [], outputs: [], attrs: {} },
          x: [],
          y: [],
          dy: [w],
          need: [false, false, true],
        }),
      /OneHot \(node OneHot_7\)/,
    );
  },
);

t.test('a parameter that does not reach the loss, and an op without a rule, fail with clear messages', async (t) => {
  const g = new Graph('x');
  const b = new Builder(g);
  const x = g.input('x', 'float32', [3]);
  const unused = g.input('unused', 'float32', [3]);
  const loss = b.reduceSum(b.mul(x, x), [], false);
  t.throws(() => backward(b, loss, [x, unused]), /parameter 'unused' does not affect the loss/);
  // A node whose op has no rule (as if read from a foreign graph).
  const y = g.node('Sin' as never, [x], [{ dtype: 'float32', shape: [3] }])[0]!;
  const loss2 = b.reduceSum(y, [], false);
  t.throws(() => backward(b, loss2, [x]), /no gradient rule for op Sin/);
});

t.test('fan-out is summed: d/dx of x·x + x is 2x + 1', async (t) => {
  const g = new Graph('fan');
  const b = new Builder(g);
  const x = g.input('x', 'float64', [3]);
  const loss = b.reduceSum(b.add(b.mul(x, x), x), [], false);
  const d = backward(b, loss, [x]).get('x')!;
  g.output(b.identity(d, 'dx'));
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const r = await s.run({ x: { dtype: 'float64', dims: [3], data: Float64Array.of(1, -2, 0.5) } });
  t.same(Array.from(r['dx']!.data as Float64Array), [3, -3, 2]);
});

t.test('the GELU composite: same values and gradient as node-by-node GELU, with fewer backward nodes', async (t) => {
  const build = (composite: boolean) => {
    const g = new Graph(composite ? 'composite' : 'plain');
    const b = new Builder(g);
    const x = g.input('x', 'float32', [4, 9]);
    const before = () => g.nodes.length;
    const y = composite ? geluComposite(b, x) : gelu(b, x);
    const loss = b.reduceSum(b.mul(y, y), [], false, 'loss');
    const n0 = before();
    const dx = backward(b, loss, [x]).get('x')!;
    g.output(loss);
    g.output(b.identity(y, 'y'));
    g.output(b.identity(dx, 'dx'));
    return { g, backwardNodes: g.nodes.length - n0 - 2 };
  };
  const plain = build(false);
  const comp = build(true);
  t.ok(comp.backwardNodes < plain.backwardNodes, `backward nodes ${comp.backwardNodes} < ${plain.backwardNodes}`);
  const rng = new Rng(7);
  const data = Float32Array.from({ length: 36 }, () => 3 * rng.normal());
  const run = async (g: Graph) => {
    const s = await Session.create(serializeModel(g), { threads: 1 });
    const r = await s.run({ x: { dtype: 'float32', dims: [4, 9], data } });
    await s.release();
    return r;
  };
  const [a, c] = [await run(plain.g), await run(comp.g)];
  const maxDiff = (k: string) =>
    Math.max(...Array.from(a[k]!.data as Float32Array, (v, i) => Math.abs(v - (c[k]!.data as Float32Array)[i]!)));
  t.ok(maxDiff('y') < 1e-5, `values agree (${maxDiff('y').toExponential(1)})`);
  t.ok(maxDiff('dx') < 1e-4, `gradients agree (${maxDiff('dx').toExponential(1)})`);
});
