// The int8 model: weight quantization, calibration ranges, logits close to float, I/O contract and metadata, CLI errors.

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import type { ImageDataset } from '../../src/data/dataset.js';
import { buildInferenceModel, defaultSpec, loadModelFile, preset, randomParams } from '../../src/model/index.js';
import { Builder, Graph, serializeModel } from '../../src/onnx/index.js';
import { inspectModel } from '../../src/onnx/inspect.js';
import { calibrate, entropyThreshold } from '../../src/quant/calibrate.js';
import {
  buildQuantizedModel,
  calibrationKeys,
  type QuantOptions,
  quantizationMetadata,
  quantizedLayers,
  SIGMOID_GELU,
  sigmoidGeluRange,
  sigmoidGeluUint8,
} from '../../src/quant/graph.js';
import { quantizeWeight } from '../../src/quant/weights.js';
import { Session } from '../../src/runtime/session.js';
import { countParameters } from '../../src/server/repository/contract.js';
import { Rng } from '../../src/util/rng.js';

const spec = defaultSpec(preset('tiny'));
const params = randomParams(spec.config, 7);
const size = spec.config.image_size;

function images(seed: number, n: number): Uint8Array {
  const r = new Rng(seed);
  return Uint8Array.from({ length: n * size * size * 3 }, () => Math.floor(r.next() * 256));
}

/** A calibration split of `n` random images. */
function trainSet(seed: number, n: number): ImageDataset {
  return {
    images: images(seed, n),
    labels: new Uint8Array(n),
    count: n,
    height: size,
    width: size,
    classes: spec.labels,
  };
}

async function logits(model: Uint8Array, pixels: Uint8Array, n: number): Promise<Float32Array> {
  const s = await Session.create(model, { threads: 1 });
  const out = await s.run({ pixels: { dtype: 'uint8', dims: [n, size, size, 3], data: pixels } });
  await s.release();
  return out['logits']!.data as Float32Array;
}

t.test('int8 weights: round-trip error at most half a step, per channel or per tensor', async (t) => {
  const out = 5;
  const inp = 7;
  const w = Float32Array.from({ length: out * inp }, (_, i) => Math.sin(i * 1.7) * (1 + (i % out)));
  for (const perChannel of [true, false]) {
    const q = quantizeWeight(w, out, inp, perChannel, true);
    t.same(q.dims, [inp, out]);
    for (let o = 0; o < out; o++) {
      const s = q.scale[perChannel ? o : 0]!;
      for (let i = 0; i < inp; i++) {
        const err = Math.abs(q.q[i * out + o]! * s - w[o * inp + i]!);
        if (err > s / 2 + 1e-7) t.fail(`w[${o},${i}] error ${err} > ${s / 2}`);
      }
    }
    t.ok(Math.max(...Array.from(q.q, Math.abs)) === 127, 'the largest weight maps to ±127');
  }
});

t.test('uint8 GELU: every input code within rounding of x·σ(1.702x), as QLinearSigmoid + QLinearMul', async (t) => {
  for (const [scale, zero] of [
    [0.05, 100],
    [0.021, 200],
    [0.3, 17],
  ] as const) {
    const g = new Graph('gelu_u8');
    const b = new Builder(g);
    const y = sigmoidGeluUint8(b, { q: g.input('h', 'uint8', [256]), scale, zero });
    g.output(b.identity(y.q, 'y'));
    const dir = t.testdir();
    const optimized = path.join(dir, 'optimized.onnx');
    const s = await Session.create(serializeModel(g), { threads: 1, optimizedModelPath: optimized });
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const got = (await s.run({ h: { dtype: 'uint8', dims: [256], data: codes } }))['y']!.data as Uint8Array;
    await s.release();
    const ops = inspectModel(await readFile(optimized)).opTypes;
    for (const op of ['QLinearSigmoid', 'QLinearMul'])
      t.ok(ops.includes(op), `scale ${scale}, zero ${zero}: ORT runs ${op}`);
    t.notOk(ops.includes('Sigmoid') || ops.includes('DequantizeLinear'), 'no float Sigmoid or DequantizeLinear left');
    // The reference: dequantize, x·σ(1.702x) in float64, quantize to the output parameters (derived from the range).
    const [lo, hi] = sigmoidGeluRange(-zero * scale, (255 - zero) * scale);
    t.ok(lo < -0.15 && lo > -0.17, `the function's minimum ${lo.toFixed(4)} is inside the range`);
    // σ is itself uint8 (steps of 1/255), so x·σ may be off by |x|/510 before the output rounds: one output step
    // plus that.
    let over = 0;
    for (let i = 0; i < 256; i++) {
      const x = (i - zero) * scale;
      const want = Math.max(0, Math.min(255, Math.round(x / (1 + Math.exp(-SIGMOID_GELU * x)) / y.scale) + y.zero));
      over = Math.max(over, Math.abs(got[i]! - want) - (1 + Math.abs(x) / 510 / y.scale));
    }
    t.ok(over <= 0, `scale ${scale}, zero ${zero}: every code within 1 step + |x|/510 of the reference`);
    t.ok(Math.abs(lo + y.zero * y.scale) < y.scale && Math.abs(hi - (255 - y.zero) * y.scale) < y.scale, 'range fits');
  }
});

t.test('entropy threshold clips a long tail but keeps the bulk', async (t) => {
  const h = new Float64Array(2048);
  for (let i = 0; i < 400; i++) h[i] = 1000 * Math.exp(-i / 80);
  h[2000] = 1;
  const thr = entropyThreshold(h, 1);
  t.ok(thr > 150 && thr < 2000, `threshold ${thr}`);
});

t.test('quantized models: logits close to float, same I/O and metadata, mixer.quantization', async (t) => {
  const fp32 = buildInferenceModel(spec, params, { 'mixer.training': '{"epochs":1}' });
  const n = 16;
  const px = images(1, n);
  const ref = await logits(fp32, px, n);
  const scale = Math.max(...Array.from(ref, Math.abs));
  const train = trainSet(2, 64);
  const cases: [string, QuantOptions][] = [
    ['dynamic per-channel', { activations: 'dynamic', perChannel: true, tokens: true, gelu: 'tanh' }],
    [
      'dynamic per-channel, 4 channel tiles',
      { activations: 'dynamic', perChannel: true, tokens: true, gelu: 'tanh', channelTiles: 4 },
    ],
    [
      'dynamic per-channel, 4 channel tiles from batch 8 (If)',
      { activations: 'dynamic', perChannel: true, tokens: true, gelu: 'tanh', channelTiles: 4, tileMinBatch: 8 },
    ],
    ['dynamic per-tensor, float token MLP', { activations: 'dynamic', perChannel: false, tokens: false, gelu: 'erf' }],
  ];
  for (const method of ['minmax', 'percentile', 'entropy'] as const) {
    const ranges = await calibrate(spec, params, quantizedLayers(spec, true), train, { method, images: 48 });
    t.equal(ranges.size, quantizedLayers(spec, true).length, `${method}: a range per layer`);
    for (const [l, [lo, hi]] of ranges) if (!(lo <= 0 && hi > lo)) t.fail(`${method} ${l}: range [${lo}, ${hi}]`);
    cases.push([`static ${method}`, { activations: 'static', perChannel: true, tokens: true, gelu: 'tanh', ranges }]);
  }
  for (const tokens of [true, false]) {
    const u8 = { activations: 'static', perChannel: true, tokens, gelu: 'uint8' } as const;
    const keys = calibrationKeys(spec, u8);
    t.equal(keys.length, quantizedLayers(spec, tokens).length * 1.5, 'uint8 GELU: also each first Linear output');
    const ranges = await calibrate(spec, params, keys, train, { method: 'percentile', images: 48 });
    cases.push([`static percentile, uint8 GELU, ${tokens ? 'int8' : 'float'} token MLPs`, { ...u8, ranges }]);
  }
  for (const [name, o] of cases) {
    const dir = t.testdir();
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.onnx`);
    const meta = {
      ...(
        await loadModelFile(
          await (async () => {
            const f = path.join(dir, 'fp32.onnx');
            await writeFile(f, fp32);
            return f;
          })(),
        )
      ).parsed.metadata,
      'mixer.quantization': quantizationMetadata('minmax', 0, o),
    };
    await writeFile(file, buildQuantizedModel(spec, params, o, meta));
    const m = await loadModelFile(file); // checks the pixels → logits, probabilities contract
    t.same(m.spec, spec, `${name}: same spec`);
    t.equal(m.parsed.metadata['mixer.training'], '{"epochs":1}', `${name}: keeps the source metadata`);
    const q = JSON.parse(m.parsed.metadata['mixer.quantization']!) as Record<string, unknown>;
    t.same([q['activations'], q['per_channel']], [o.activations, o.perChannel], `${name}: mixer.quantization`);
    const emitted =
      o.activations === 'dynamic'
        ? ['DynamicQuantizeLinear', 'MatMulInteger']
        : ['DequantizeLinear', 'Gemm', 'QuantizeLinear'];
    for (const op of emitted) t.ok(m.parsed.opTypes.includes(op), `${name}: emits ${op}`);
    // ONNX Runtime must fuse every quantized layer into one int8 kernel: nothing of the emitted pattern is left over.
    const optimized = path.join(dir, 'optimized.onnx');
    await (await Session.create(m.bytes, { threads: 1, optimizedModelPath: optimized })).release();
    t.equal(countParameters(inspectModel(m.bytes)), countParameters(inspectModel(fp32)), `${name}: parameter count`);
    const ops = inspectModel(await readFile(optimized)).opTypes;
    const fused = o.activations === 'dynamic' ? ['DynamicQuantizeMatMul'] : ['QGemm'];
    if (o.gelu === 'uint8') fused.push('QLinearSigmoid', 'QLinearMul');
    for (const op of fused) t.ok(ops.includes(op), `${name}: ORT runs ${op}`);
    if (o.gelu === 'uint8')
      t.equal(ops.includes('FastGelu'), !o.tokens, `${name}: a float GELU only in float token MLPs`);
    for (const op of ['MatMulInteger', 'DynamicQuantizeLinear', 'DequantizeLinear'])
      t.notOk(ops.includes(op), `${name}: no ${op} left after ORT's fusions`);
    t.equal(m.parsed.opset, 17);
    const got = await logits(m.bytes, px, n);
    let err = 0;
    for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - ref[i]!));
    t.ok(err < 0.08 * scale, `${name}: max |int8 − fp32| ${err.toFixed(4)} < 8% of max |logit| ${scale.toFixed(3)}`);
  }
});

t.test('static activations: an image gets the same logits alone as in any batch (dynamic ones do not)', async (t) => {
  const train = trainSet(3, 32);
  const ranges = await calibrate(spec, params, quantizedLayers(spec, true), train, {
    method: 'percentile',
    images: 32,
  });
  const n = 12;
  const px = images(4, n);
  const per = size * size * 3;
  const tiled = { perChannel: true, tokens: true, gelu: 'tanh', channelTiles: 4, tileMinBatch: 8 } as const;
  const drift = async (o: QuantOptions): Promise<number> => {
    const model = buildQuantizedModel(spec, params, o, {});
    const all = await logits(model, px, n); // tiled: n ≥ tileMinBatch
    let d = 0;
    for (const i of [0, 5, n - 1]) {
      const one = await logits(model, px.slice(i * per, (i + 1) * per), 1); // untiled
      const k = one.length;
      for (let j = 0; j < k; j++) d = Math.max(d, Math.abs(one[j]! - all[i * k + j]!));
    }
    return d;
  };
  t.equal(await drift({ ...tiled, activations: 'static', ranges }), 0, 'static: identical logits');
  t.ok((await drift({ ...tiled, activations: 'dynamic' })) > 0, 'dynamic: the batch sets the quantization range');
});

const run = promisify(execFile);
const BIN = path.resolve('dist/cli/main.js');
async function mixer(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

t.test('mixer quantize: writes a servable int8 model; bad input is one line and exit 2', async (t) => {
  const dir = t.testdir();
  const fp32 = path.join(dir, 'tiny.onnx');
  const int8 = path.join(dir, 'tiny-int8.onnx');
  await writeFile(fp32, buildInferenceModel(spec, params));
  const ok = await mixer('quantize', '--model', fp32, '--out', int8, '--per-channel');
  t.equal(ok.code, 0, ok.stderr);
  const q = JSON.parse((await loadModelFile(int8)).parsed.metadata['mixer.quantization']!) as Record<string, unknown>;
  t.same(q, {
    method: 'minmax',
    images: 0,
    per_channel: true,
    activations: 'dynamic',
    token_mlp: 'float',
    channel_tiles: 4,
    tile_min_batch: 16,
    gelu: 'float',
  });
  t.match(ok.stdout, /wrote .*: 4 int8 layers/, 'the channel MLPs only, by default');
  const tok = await mixer('quantize', '--model', fp32, '--out', int8, '--per-channel', '--token-mlp', 'int8');
  t.match(tok.stdout, /wrote .*: 8 int8 layers/, '--token-mlp int8 adds the token MLPs');
  const tokMeta = (await loadModelFile(int8)).parsed.metadata['mixer.quantization']!;
  t.equal((JSON.parse(tokMeta) as Record<string, unknown>)['token_mlp'], 'int8');
  const u8 = await mixer(
    'quantize',
    ...['--model', fp32, '--out', int8, '--activations', 'static', '--images', '32', '--gelu', 'uint8'],
  );
  t.equal(u8.code, 0, u8.stderr);
  const u8Meta = JSON.parse((await loadModelFile(int8)).parsed.metadata['mixer.quantization']!) as Record<
    string,
    unknown
  >;
  t.equal(u8Meta['gelu'], 'uint8', '--gelu uint8 is recorded');
  const alias = await mixer('quantize', '--model', fp32, '--out', int8, '--float-tokens');
  t.match(alias.stdout, /wrote .*: 4 int8 layers/, '--float-tokens still names the default');
  const bad: [string, string[], RegExp][] = [
    ['bad --token-mlp', ['--model', fp32, '--out', int8, '--token-mlp', 'int4'], /--token-mlp "int4" is not valid/],
    [
      '--float-tokens with --token-mlp int8',
      ['--model', fp32, '--out', int8, '--float-tokens', '--token-mlp', 'int8'],
      /contradict/,
    ],
    ['no --model', ['--out', int8], /--model is required/],
    ['--gelu uint8 without static', ['--model', fp32, '--out', int8, '--gelu', 'uint8'], /needs --activations static/],
    ['bad --gelu', ['--model', fp32, '--out', int8, '--gelu', 'int4'], /--gelu "int4" is not valid/],
    ['missing file', ['--model', path.join(dir, 'nope.onnx'), '--out', int8], /cannot read model/],
    ['bad --activations', ['--model', fp32, '--out', int8, '--activations', 'fp8'], /--activations "fp8" is not valid/],
    [
      'bad --method',
      ['--model', fp32, '--out', int8, '--activations', 'static', '--method', 'median'],
      /--method "median" is not valid/,
    ],
    [
      'bad --images',
      ['--model', fp32, '--out', int8, '--activations', 'static', '--images', '0'],
      /--images must be at least 1/,
    ],
    [
      'calibration flags without static',
      ['--model', fp32, '--out', int8, '--method', 'entropy'],
      /apply to --activations static/,
    ],
    [
      'bad --channel-tiles',
      ['--model', fp32, '--out', int8, '--channel-tiles', '3'],
      /must divide the model's 16 tokens/,
    ],
    ['already quantized', ['--model', int8, '--out', path.join(dir, 'again.onnx')], /already quantized/],
    [
      'missing calibration folder',
      ['--model', fp32, '--out', int8, '--activations', 'static', '--calibration', path.join(dir, 'none')],
      /./,
    ],
  ];
  for (const [name, args, re] of bad) {
    const r = await mixer('quantize', ...args);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
    t.match(r.stderr, re, `${name}: ${r.stderr.trim()}`);
  }
});
