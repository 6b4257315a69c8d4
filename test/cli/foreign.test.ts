// `mixer info/predict/eval` on torch.onnx-exported models with --config / --labels: answers equal a direct onnxruntime run; bad files exit 2 with one line.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { mixerCli } from '../fixtures/cli.js';
import { requirePython } from '../fixtures/oracle/torch.js';
import { direct, pixels, softmaxRef, writeRepository } from '../fixtures/repository.js';

const mixer = mixerCli({ ORT_DISABLE_TELEMETRY: '1' });

if (requirePython(t, ['torch', 'onnx'])) {
  const dir = t.testdir();
  const root = path.join(dir, 'models');
  await writeRepository(root);
  const resnet = path.join(root, 'resnet', '1', 'model.onnx');
  const config = path.join(root, 'resnet', 'config.json');
  const labels = path.join(root, 'resnet', 'labels.txt');
  const px = pixels(32, 32, 3, 42);
  const img = path.join(dir, 'x.png');
  await sharp(Buffer.from(px), { raw: { width: 32, height: 32, channels: 3 } })
    .png()
    .toFile(img);

  t.test('info: contract, parameters and MACs from the graph', async (t) => {
    const r = await mixer('info', resnet, '--config', config, '--labels', labels, '--json');
    t.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.equal(j.parameters, 1482);
    t.equal(j.forward_mflops_per_image, (2 * (216 * 256 + 2 * 576 * 256 + 80)) / 1e6);
    t.match(j.classifier, {
      input: 'input',
      dtype: 'float32',
      layout: 'NCHW',
      height: 32,
      width: 32,
      mean: [0.485, 0.456, 0.406],
    });
    t.equal(j.labels[3], 'class-3');
    const tab = await mixer('info', path.join(root, 'tabular', '1', 'model.onnx'));
    t.match(tab.stdout, /classifier {2}no: the model has 2 inputs/);
  });

  t.test('predict with --config and --labels equals a direct run', async (t) => {
    const r = await mixer(
      'predict',
      '--model',
      resnet,
      '--config',
      config,
      '--labels',
      labels,
      '--top',
      '10',
      '--json',
      img,
    );
    t.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout).predictions as { label: string; index: number; probability: number }[];
    const x = new Float32Array(3 * 1024);
    const [mean, std] = [
      [0.485, 0.456, 0.406],
      [0.229, 0.224, 0.225],
    ];
    for (let k = 0; k < 3; k++)
      for (let i = 0; i < 1024; i++) x[k * 1024 + i] = (px[i * 3 + k]! / 255 - mean[k]!) / std[k]!;
    const ref = softmaxRef(
      (await direct(resnet, { input: { dtype: 'float32', dims: [1, 3, 32, 32], data: x } }))['logits']!
        .data as Float32Array,
    );
    for (const p of got) {
      t.equal(p.label, `class-${p.index}`);
      t.ok(Math.abs(p.probability - ref[p.index]!) < 1e-6, `class ${p.index}: ${p.probability} vs ${ref[p.index]}`);
    }
  });

  t.test('eval of a foreign model on an image folder', async (t) => {
    const data = path.join(dir, 'data');
    for (let k = 0; k < 10; k++) {
      for (const split of ['train', 'val']) {
        mkdirSync(path.join(data, split, `class-${k}`), { recursive: true });
        await sharp(Buffer.from(pixels(32, 32, 3, k)), { raw: { width: 32, height: 32, channels: 3 } })
          .png()
          .toFile(path.join(data, split, `class-${k}`, 'a.png'));
      }
    }
    const r = await mixer('eval', '--model', resnet, '--config', config, '--labels', labels, '--data', data, '--json');
    t.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    t.equal(j.count, 10);
    t.ok(Number.isFinite(j.loss) && j.loss > 0);
  });

  t.test('bad --config / --labels / model: one line, exit 2', async (t) => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"layout": "CHW"}');
    const cases: [string[], RegExp][] = [
      [
        ['predict', '--model', resnet, '--config', bad, img],
        /bad\.json: "layout" is "CHW"; it must be one of NCHW, NHWC/,
      ],
      [['predict', '--model', resnet, '--labels', config, img], /has 1 lines but output "logits" has 10 classes/],
      [
        ['predict', '--model', resnet, '--config', path.join(dir, 'none.json'), img],
        /--config .*none\.json: cannot read it/,
      ],
      [
        ['predict', '--model', path.join(root, 'tabular', '1', 'model.onnx'), img],
        /is not an image classifier: the model has 2 inputs/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await mixer(...args);
      t.equal(r.code, 2, args.join(' '));
      t.match(r.stderr, re);
      t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  });
}

t.test('serve: --model and --model-repository together exit 2 naming both', async (t) => {
  const r = await mixer('serve', '--model', 'x.onnx', '--model-repository', t.testdir(), '--port', '0');
  t.equal(r.code, 2);
  t.match(r.stderr, /^mixer: --model \(MODEL_PATH\) and --model-repository \(MODEL_REPOSITORY\) are exclusive/);
});
