// Builder unit tests: each op emitter runs in onnxruntime-node on tiny inputs and matches hand-computed values.
import t, { type Test } from 'tap';
import {
  Builder,
  type DType,
  Graph,
  GraphError,
  parseModel,
  serializeModel,
  type Value,
} from '../../src/onnx/index.js';
import { type HostTensor, Session } from '../../src/runtime/session.js';

type Data = number[];

/** Builds a one-output graph over float32 inputs, runs it and returns the flat output and its dims. */
async function run1(
  inputs: Record<string, { shape: number[]; data: Data; dtype?: DType }>,
  f: (b: Builder, v: Record<string, Value>) => Value,
) {
  const g = new Graph('op');
  const b = new Builder(g);
  const vs: Record<string, Value> = {};
  const feeds: Record<string, HostTensor> = {};
  for (const [k, x] of Object.entries(inputs)) {
    const dtype = x.dtype ?? 'float32';
    vs[k] = g.input(k, dtype, x.shape);
    const data =
      dtype === 'int64'
        ? BigInt64Array.from(x.data.map(BigInt))
        : dtype === 'uint8'
          ? Uint8Array.from(x.data)
          : Float32Array.from(x.data);
    feeds[k] = { dtype, dims: x.shape, data };
  }
  g.output(b.identity(f(b, vs), 'out'));
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const r = (await s.run(feeds))['out']!;
  await s.release();
  return { data: Array.from(r.data as Float32Array, Number), dims: r.dims };
}

const close = (t: Test, got: number[], want: number[], msg: string, tol = 1e-5) =>
  t.ok(
    got.length === want.length && got.every((x, i) => Math.abs(x - want[i]!) <= tol * Math.max(1, Math.abs(want[i]!))),
    `${msg}: got [${got.map((x) => +x.toFixed(6))}] want [${want}]`,
  );

t.test('elementwise and broadcasting', async (t) => {
  const a = { shape: [2, 2], data: [1, 2, 3, 4] };
  const b = { shape: [2], data: [10, 20] };
  close(t, (await run1({ a, b }, (B, v) => B.add(v['a']!, v['b']!))).data, [11, 22, 13, 24], 'Add');
  close(t, (await run1({ a, b }, (B, v) => B.sub(v['a']!, v['b']!))).data, [-9, -18, -7, -16], 'Sub');
  close(t, (await run1({ a, b }, (B, v) => B.mul(v['a']!, v['b']!))).data, [10, 40, 30, 80], 'Mul');
  close(t, (await run1({ a, b }, (B, v) => B.div(v['b']!, v['a']!))).data, [10, 10, 10 / 3, 5], 'Div');
  close(t, (await run1({ a }, (B, v) => B.pow(v['a']!, B.scalar(2)))).data, [1, 4, 9, 16], 'Pow');
  close(t, (await run1({ a }, (B, v) => B.neg(v['a']!))).data, [-1, -2, -3, -4], 'Neg');
  close(t, (await run1({ a }, (B, v) => B.sqrt(v['a']!))).data, [1, Math.SQRT2, Math.sqrt(3), 2], 'Sqrt');
  close(t, (await run1({ a }, (B, v) => B.exp(v['a']!))).data, [1, 2, 3, 4].map(Math.exp), 'Exp');
  close(
    t,
    (await run1({ a: { shape: [3], data: [0, 0.5, -1] } }, (B, v) => B.erf(v['a']!))).data,
    [0, 0.5204999, -0.8427008],
    'Erf',
  );
  close(t, (await run1({ a, b }, (B, v) => B.sum([v['a']!, v['b']!, v['a']!]))).data, [12, 24, 16, 28], 'Sum');
});

t.test('Cast, Reshape, Transpose, Shape, Expand', async (t) => {
  close(
    t,
    (await run1({ p: { shape: [3], data: [0, 128, 255], dtype: 'uint8' } }, (B, v) => B.cast(v['p']!, 'float32'))).data,
    [0, 128, 255],
    'Cast',
  );
  const x = { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] };
  const r = await run1({ x }, (B, v) => B.reshape(v['x']!, [3, 2]));
  t.same(r.dims, [3, 2]);
  close(t, (await run1({ x }, (B, v) => B.transpose(v['x']!, [1, 0]))).data, [1, 4, 2, 5, 3, 6], 'Transpose');
  close(t, (await run1({ x }, (B, v) => B.cast(B.shapeOf(v['x']!), 'float32'))).data, [2, 3], 'Shape');
  const e = await run1({ x, c: { shape: [2, 1], data: [7, 8] } }, (B, v) => B.expandLike(v['c']!, v['x']!));
  close(t, e.data, [7, 7, 7, 8, 8, 8], 'Expand');
});

t.test('MatMul (with broadcast batch) and Gemm (all transposes, alpha, beta)', async (t) => {
  const A = { shape: [2, 2], data: [1, 2, 3, 4] };
  const B = { shape: [2, 2, 2], data: [1, 0, 0, 1, 2, 0, 0, 2] };
  close(t, (await run1({ A, B }, (b, v) => b.matmul(v['A']!, v['B']!))).data, [1, 2, 3, 4, 2, 4, 6, 8], 'MatMul');
  const M = { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] };
  const W = { shape: [2, 3], data: [1, 0, 1, 0, 1, 0] };
  const c = { shape: [2], data: [10, 20] };
  // M·Wᵀ + c = [[1+3, 2], [4+6, 5]] + c
  close(
    t,
    (await run1({ M, W, c }, (b, v) => b.gemm(v['M']!, v['W']!, v['c']!, { transB: true }))).data,
    [14, 22, 20, 25],
    'Gemm transB',
  );
  // 2·Mᵀ·M' with M' = [[1,0],[0,1]] and beta 0.5·1
  const I = { shape: [2, 2], data: [1, 0, 0, 1] };
  const one = { shape: [1], data: [1] };
  close(
    t,
    (await run1({ M, I, one }, (b, v) => b.gemm(v['M']!, v['I']!, v['one']!, { transA: true, alpha: 2, beta: 0.5 })))
      .data,
    [2.5, 8.5, 4.5, 10.5, 6.5, 12.5],
    'Gemm transA alpha beta',
  );
});

t.test('LayerNormalization with Mean/InvStdDev, reductions, softmax, OneHot', async (t) => {
  const x = { shape: [2, 2], data: [1, 3, 2, 6] };
  const s = { shape: [2], data: [1, 2] };
  const z = { shape: [2], data: [0, 1] };
  // rows normalise to [-1, 1] (eps 0); then ·[1,2] + [0,1]
  close(
    t,
    (await run1({ x, s, z }, (b, v) => b.layerNorm(v['x']!, v['s']!, v['z']!, { epsilon: 0 })[0]!)).data,
    [-1, 3, -1, 3],
    'LayerNormalization',
    1e-5,
  );
  close(
    t,
    (await run1({ x, s, z }, (b, v) => b.layerNorm(v['x']!, v['s']!, v['z']!, { epsilon: 0, stats: true })[1]!)).data,
    [2, 4],
    'LayerNormalization Mean',
  );
  close(
    t,
    (await run1({ x, s, z }, (b, v) => b.layerNorm(v['x']!, v['s']!, v['z']!, { epsilon: 0, stats: true })[2]!)).data,
    [1, 0.5],
    'LayerNormalization InvStdDev',
  );
  close(t, (await run1({ x }, (b, v) => b.reduceMean(v['x']!, [1], false))).data, [2, 4], 'ReduceMean');
  close(t, (await run1({ x }, (b, v) => b.reduceSum(v['x']!, [0], true))).data, [3, 9], 'ReduceSum');
  const e = Math.exp(2);
  close(
    t,
    (await run1({ x }, (b, v) => b.softmax(v['x']!, -1))).data,
    [1 / (1 + e), e / (1 + e), 1 / (1 + e ** 2), e ** 2 / (1 + e ** 2)],
    'Softmax',
  );
  close(
    t,
    (await run1({ x }, (b, v) => b.logSoftmax(v['x']!, -1))).data,
    [-Math.log(1 + e), 2 - Math.log(1 + e), -Math.log(1 + e ** 2), 4 - Math.log(1 + e ** 2)],
    'LogSoftmax',
  );
  close(
    t,
    (await run1({ l: { shape: [2], data: [2, 0], dtype: 'int64' } }, (b, v) => b.oneHot(v['l']!, 3, 0.1, 0.8))).data,
    [0.1, 0.1, 0.8, 0.8, 0.1, 0.1],
    'OneHot',
  );
});

t.test('symbolic batch: reshape through N*S and back', async (t) => {
  const g = new Graph('sym');
  const b = new Builder(g);
  const x = g.input('x', 'float32', ['N', 4, 3]);
  const flat = b.reshape(x, ['N*4', 3]);
  t.same(flat.shape, ['N*4', 3]);
  const back = b.reshape(flat, ['N', 4, 3]);
  t.same(back.shape, ['N', 4, 3]);
  t.same(b.reduceMean(back, [1], false).shape, ['N', 3]);
});

t.test('shape mismatches fail at build time and name the node', async (t) => {
  const g = new Graph('bad');
  const b = new Builder(g);
  const x = g.input('x', 'float32', [2, 3]);
  const y = g.input('y', 'float32', [4, 5]);
  t.throws(() => b.matmul(x, y), new GraphError('MatMul(x[2,3], y[4,5]): inner dimensions 3 and 4 differ'));
  t.throws(() => b.add(x, y), /Add\(x\[2,3\], y\[4,5\]\): shapes \[2,3\] and \[4,5\] do not broadcast/);
  t.throws(() => b.reshape(x, [4, 2]), /Reshape\(x\[2,3\]\): cannot reshape \[2,3\] to \[4,2\]/);
  t.throws(() => b.transpose(x, [0, 0]), /not a permutation/);
  t.throws(() => b.gemm(x, y, null, { transB: true }), /Gemm\(x\[2,3\], y\[4,5\]\): inner dimensions/);
  t.throws(
    () => b.layerNorm(x, y, null),
    /LayerNormalization\(x\[2,3\], y\[4,5\]\): scale shape \[4,5\] must be \[3\]/,
  );
  const i = g.input('i', 'int64', [2]);
  t.throws(() => b.add(x, i), /mixed element types/);
});

t.test('serialize → parse round trip keeps initializers, metadata, inputs and outputs', async (t) => {
  const g = new Graph('rt');
  const b = new Builder(g);
  const x = g.input('pixels', 'uint8', ['N', 2, 2, 3]);
  const w = g.initializer('w', { dtype: 'float32', dims: [3], data: Float32Array.of(1.5, -2, 3.25) });
  g.output(b.mul(b.cast(x, 'float32'), w, 'logits'));
  const m = parseModel(serializeModel(g, { metadata: { 'mixer.labels': '["a"]' } }));
  t.equal(m.opset, 17);
  t.equal(m.irVersion, 8);
  t.same(m.metadata, { 'mixer.labels': '["a"]' });
  t.same(m.inputs, [{ name: 'pixels', dtype: 'uint8', shape: ['N', 2, 2, 3] }]);
  t.same(m.outputs, [{ name: 'logits', dtype: 'float32', shape: ['N', 2, 2, 3] }]);
  t.same(Array.from(m.initializers.get('w')!.data as Float32Array), [1.5, -2, 3.25]);
  t.throws(() => parseModel(new TextEncoder().encode('this is not a model at all')), GraphError);
});
