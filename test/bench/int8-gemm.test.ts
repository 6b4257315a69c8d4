// The int8 figures of `mixer bench`: int8 multiply-adds counted from a quantized model, kernel time attributed from ORT's profiler.
import t from 'tap';
import { int8MacsPerImage } from '../../src/bench/int8-macs.js';
import { kernelTimes, profileKernels } from '../../src/bench/int8-profile.js';
import { int8RooflineModel } from '../../src/bench/measure.js';
import { buildInferenceModel, defaultSpec, numTokens, preset, randomParams } from '../../src/model/index.js';
import { buildQuantizedModel } from '../../src/quant/graph.js';

const spec = defaultSpec(preset('tiny'));
const params = randomParams(spec.config, 0);

t.test('int8MacsPerImage counts the quantized token and channel MLPs, and nothing of a float model', async (t) => {
  const c = spec.config;
  const S = numTokens(c);
  const C = c.hidden_dim;
  const tokens = 2 * C * S * c.tokens_mlp_dim;
  const channels = 2 * S * C * c.channels_mlp_dim;
  const o = { activations: 'dynamic', perChannel: true } as const;
  t.equal(
    int8MacsPerImage(buildQuantizedModel(spec, params, { ...o, tokens: true }, {}), c),
    c.depth * (tokens + channels),
  );
  t.equal(int8MacsPerImage(buildQuantizedModel(spec, params, { ...o, tokens: false }, {}), c), c.depth * channels);
  t.equal(int8MacsPerImage(buildInferenceModel(spec, params), c), 0);
});

t.test('kernelTimes skips the warm-up run, leaves out If containers and sums int8 GEMM kernels', async (t) => {
  const run = (ts: number) => ({ cat: 'Session', name: 'model_run', ts, dur: 100 });
  const node = (ts: number, op: string, dur: number) => ({
    cat: 'Node',
    name: `n_${op}_kernel_time`,
    ts,
    dur,
    args: { op_name: op },
  });
  const trace = [
    run(0),
    node(10, 'QGemm', 1000), // warm-up: not counted
    run(200),
    node(210, 'If', 90),
    node(211, 'QGemm', 30),
    node(250, 'FastGelu', 60),
    run(400),
    node(410, 'DynamicQuantizeMatMul', 30),
    node(420, 'MatMulInteger', 10),
    node(430, 'LayerNormalization', 20),
    { cat: 'Session', name: 'session_initialization', ts: 0, dur: 5 },
  ];
  const k = kernelTimes(trace);
  t.equal(k.runs, 2);
  t.equal(k.total, 150);
  t.equal(k.int8Gemm, 70);
  t.same(k.byOp, { QGemm: 30, FastGelu: 60, DynamicQuantizeMatMul: 30, MatMulInteger: 10, LayerNormalization: 20 });
  t.throws(() => kernelTimes({}), /JSON array/);
});

t.test('a profiled run of the int8 roofline graph is all int8 GEMM kernel time', async (t) => {
  const m = int8RooflineModel(64);
  const k = await profileKernels(m.bytes, 1, m.feeds, 3);
  t.equal(k.runs, 3);
  t.ok(k.total > 0, 'kernel time recorded');
  t.equal(k.int8Gemm, k.total);
  t.same(Object.keys(k.byOp), ['MatMulInteger']);
});
