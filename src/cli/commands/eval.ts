// `mixer eval`: accuracy, per-class accuracy and the confusion matrix of a model on CIFAR-10 or an image folder.
import os from 'node:os';
import { loadDataSource } from '../../data/cifar10.js';
import { loadModelFile } from '../../model/index.js';
import { Session } from '../../runtime/session.js';
import { evaluate, formatEval } from '../../train/evaluate.js';
import { num, parse, str } from '../args.js';
import { defaultModelPath } from '../paths.js';

export const help = `mixer eval [--model <model.onnx>] [--data cifar10|<folder>] [--limit N] [--threads N] [--json]
  Evaluates on the CIFAR-10 test split (or an image folder's validation split, the same one mixer train held out). Default model: the shipped one.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { model: { type: 'string' }, data: { type: 'string' }, limit: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' } });
  const m = await loadModelFile(str(v, 'model', defaultModelPath()));
  const data = await loadDataSource(str(v, 'data', 'cifar10'), { size: m.spec.config.image_size, log: (l: string) => process.stderr.write(`${l}\n`) });
  let test = data.test;
  const limit = num(v, 'limit', 0, { int: true, min: 0 });
  if (limit > 0 && limit < test.count) {
    const { subset } = await import('../../data/dataset.js');
    test = subset(test, Array.from({ length: limit }, (_, i) => i));
  }
  if (test.classes.length !== m.spec.labels.length) throw new Error(`the data has ${test.classes.length} classes but the model has ${m.spec.labels.length}`);
  const session = await Session.create(m.bytes, { threads: num(v, 'threads', os.availableParallelism(), { int: true, min: 1 }) });
  const r = await evaluate(session, test, m.spec.labels);
  await session.release();
  console.log(v['json'] ? JSON.stringify({ model: m.path, sha256: m.sha256, ...r }, null, 2) : formatEval(r));
  return 0;
}
