// The `mixer` CLI as a user runs it: help, build/info/artifacts/export/predict, and one-line errors with exit code 2.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { BIN, mixerCli } from '../fixtures/cli.js';

const mixer = mixerCli({ MODEL_PATH: '' });

t.before(() => {
  if (!existsSync(BIN)) throw new Error('dist/ is missing: run npm run build (npm test does it first)');
});

t.test('--help lists and documents every subcommand', async (t) => {
  const r = await mixer('--help');
  t.equal(r.code, 0);
  for (const c of ['build', 'artifacts', 'data', 'train', 'export', 'eval', 'predict', 'info', 'serve', 'bench'])
    t.match(r.stdout, new RegExp(`---- ${c}\\n`), c);
});

t.test('build → info → predict on an untrained model; artifacts → export', async (t) => {
  const dir = t.testdir();
  const model = path.join(dir, 'tiny.onnx');
  t.equal((await mixer('build', '--preset', 'tiny', '--seed', '3', '--out', model)).code, 0);
  const info = JSON.parse((await mixer('info', model, '--json')).stdout) as {
    parameters: number;
    opset: number;
    inputs: string[];
    outputs: string[];
  };
  t.equal(info.parameters, 24618);
  t.equal(info.opset, 17);
  t.same(info.inputs, ['pixels: uint8 [N, 32, 32, 3]']);
  t.same(info.outputs, ['logits: float32 [N, 10]', 'probabilities: float32 [N, 10]']);
  const s4 = JSON.parse(
    (
      await mixer(
        'info',
        await (async () => {
          const p = path.join(dir, 's4.onnx');
          await mixer('build', '--preset', 'cifar10-s4', '--out', p);
          return p;
        })(),
        '--json',
      )
    ).stdout,
  ) as { parameters: number; forward_mflops_per_image: number };
  t.equal(s4.parameters, 1132170);
  t.ok(Math.abs(s4.forward_mflops_per_image - 151.2) < 1, `forward MFLOP ${s4.forward_mflops_per_image}`);

  const img = path.join(dir, 'red.png');
  await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c03020' } })
    .png()
    .toFile(img);
  const p = await mixer('predict', '--model', model, '--top', '3', '--json', img);
  t.equal(p.code, 0, p.stderr);
  const pr = JSON.parse(p.stdout) as { path: string; predictions: { probability: number }[] };
  t.equal(pr.path, img);
  t.equal(pr.predictions.length, 3);
  t.ok(pr.predictions[0]!.probability >= pr.predictions[1]!.probability);

  const art = path.join(dir, 'art');
  t.equal((await mixer('artifacts', '--preset', 'tiny', '--label-smoothing', '0.1', '--out-dir', art)).code, 0);
  for (const f of [
    'training_model.onnx',
    'eval_model.onnx',
    'optimizer_model.onnx',
    'train_step.onnx',
    'checkpoint.safetensors',
  ])
    t.ok(existsSync(path.join(art, f)), f);
  const out = path.join(dir, 'exported.onnx');
  t.equal((await mixer('export', '--checkpoint', path.join(art, 'checkpoint.safetensors'), '--out', out)).code, 0);
  t.ok(readFileSync(out).length > 50_000);
});

t.test('bad input: one line naming the problem and the choices, exit code 2, no stack trace', async (t) => {
  const dir = t.testdir({ 'garbage.onnx': 'definitely not protobuf \u0000\u0001\u0002', 'x.png': 'not a png' });
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /unknown command "frobnicate". Should be one of: build, artifacts/],
    [
      ['build', '--preset', 'huge', '--out', path.join(dir, 'a.onnx')],
      /unknown preset "huge". Should be one of: cifar10-s4, tiny/,
    ],
    [['build', '--preset', 'tiny'], /--out is required/],
    [['build', '--preset', 'tiny', '--seed', 'abc', '--out', 'x'], /--seed must be an integer, got "abc"/],
    [['info', path.join(dir, 'missing.onnx')], /cannot read model .*missing\.onnx: ENOENT \(model file not found/],
    [['info', path.join(dir, 'garbage.onnx')], /is not a valid ONNX model/],
    [['predict', '--model', path.join(dir, 'garbage.onnx'), path.join(dir, 'x.png')], /is not a valid ONNX model/],
    [['train', '--preset', 'nope', '--out-dir', dir], /unknown preset "nope"/],
    [
      ['train', '--out-dir', dir, '--step', 'warp'],
      /--step "warp" is not valid. Should be one of: fused, separate, parallel/,
    ],
    [['serve', '--device', 'tpu'], /Should be one of: cpu, cuda, auto/],
    [['build', '--bogus'], /^mixer: unknown option --bogus \(--help lists the options\)$/m],
    [['data', 'mnist'], /unknown dataset "mnist". Should be one of: cifar10/],
  ];
  for (const [args, re] of cases) {
    const r = await mixer(...args);
    t.equal(r.code, 2, `${args.join(' ')} exits 2`);
    t.match(r.stderr, re, args.join(' '));
    t.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
