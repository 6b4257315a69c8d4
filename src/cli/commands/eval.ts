// `mixer eval`: accuracy, per-class accuracy and the confusion matrix of a model (onnx-mixer's or any image classifier) on CIFAR-10 or an image folder.
import os from 'node:os';
import { loadEvalSource } from '../../data/cifar10.js';
import { Session } from '../../runtime/session.js';
import { classRows, runImages } from '../../server/image-batch.js';
import { pixelsToInput } from '../../server/repository/contract.js';
import { evaluate, formatEval } from '../../train/evaluate.js';
import { num, parse, str, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, synopsis } from '../flags.js';
import { imageContract, openLocalModel } from '../model-file.js';
import { defaultModelPath } from '../paths.js';

export const flags: readonly Flag[] = [
  { flag: 'model', kind: 'string', arg: '<model.onnx>', dfltText: 'the shipped model', help: 'the model' },
  { flag: 'config', kind: 'string', arg: 'config.json', help: "a foreign model's serving config" },
  { flag: 'labels', kind: 'string', arg: 'labels.txt', help: "a foreign model's class names" },
  { flag: 'data', kind: 'string', arg: 'cifar10|<folder>', dflt: 'cifar10', help: 'the evaluation data' },
  { flag: 'limit', kind: 'int', arg: 'N', dflt: 0, min: 0, help: 'evaluate the first N images (0: all)' },
  { flag: 'threads', kind: 'int', arg: 'N', dfltText: 'all cores', min: 1, help: 'ORT intra-op threads' },
  { flag: 'json', kind: 'boolean', help: 'print JSON' },
];

export const help = `${synopsis('eval', flags)}
  Evaluates on the CIFAR-10 test split, or on every image of an image folder (of its test/, else val/, part when it
  has the train/ layout); the output says how many images were scored. Default model: the shipped one.
  Other ONNX image classifiers take --config / --labels as in a model repository; their classes must match the data's.
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, flagOptions(flags));
  const m = await openLocalModel(str(v, 'model', defaultModelPath()), {
    ...(v['config'] !== undefined ? { config: str(v, 'config') } : {}),
    ...(v['labels'] !== undefined ? { labels: str(v, 'labels') } : {}),
  });
  const c = imageContract(m);
  if (c.height !== c.width)
    throw new UsageError(`mixer eval: the model's input is ${c.height}x${c.width}; eval resizes data to square images`);
  const source = str(v, 'data', 'cifar10');
  const data = await loadEvalSource(source, {
    size: c.height,
    log: (l: string) => process.stderr.write(`${l}\n`),
    ...(m.contract.labels ? { classes: m.contract.labels } : {}),
  });
  let test = data.set;
  const limit = num(v, 'limit', 0, { int: true, min: 0 });
  if (limit > 0 && limit < test.count) {
    const { subset } = await import('../../data/dataset.js');
    test = subset(
      test,
      Array.from({ length: limit }, (_, i) => i),
    );
  }
  const labels = m.contract.labels ?? test.classes;
  if (test.classes.length !== labels.length)
    throw new UsageError(`the data has ${test.classes.length} classes but the model has ${labels.length}`);
  const session = await Session.create(m.bytes, {
    threads: num(v, 'threads', os.availableParallelism(), { int: true, min: 1 }),
  });
  const hw = c.height * c.width;
  // RGB HWC images → the model's input (grey: Rec. 709 luma) → log-probabilities (a cross-entropy-compatible score).
  const scores = async (pixels: Uint8Array, n: number): Promise<Float32Array> => {
    const input = new Uint8Array(n * c.itemBytes);
    for (let i = 0; i < n; i++) {
      let px = pixels.subarray(i * hw * 3, (i + 1) * hw * 3);
      if (c.channels === 1)
        px = Uint8Array.from({ length: hw }, (_, j) =>
          Math.round(0.2126 * px[3 * j]! + 0.7152 * px[3 * j + 1]! + 0.0722 * px[3 * j + 2]!),
        );
      input.set(pixelsToInput(px, c), i * c.itemBytes);
    }
    const { out: rows } = await runImages(
      async (feeds, outputs) => ({ outputs: await session.run(feeds, outputs), ms: 0 }),
      m.contract,
      input,
      n,
      m.contract.maxBatch,
    );
    const probs = classRows(rows, n, c);
    const out = new Float32Array(n * labels.length);
    probs.forEach((p, i) =>
      out.set(
        p.map((x) => Math.log(Math.max(x, 1e-30))),
        i * labels.length,
      ),
    );
    return out;
  };
  const r = await evaluate(session, test, labels, 250, m.contract.mixer ? undefined : scores);
  await session.release();
  const from = `${data.what}${test.count < data.set.count ? ` (the first ${test.count} of ${data.set.count}: --limit)` : ''}`;
  console.log(
    v['json']
      ? JSON.stringify(
          { model: m.path, sha256: m.sha256, data: source, scored: { images: r.count, from }, ...r },
          null,
          2,
        )
      : `scored ${r.count} images: ${from}\n${formatEval(r)}`,
  );
  return 0;
}
