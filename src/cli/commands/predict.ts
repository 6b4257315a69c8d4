// `mixer predict`: classify image files with a model (the shipped one by default) and print the top-K labels.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { loadModelFile } from '../../model/index.js';
import { decodeImage } from '../../model/preprocess.js';
import { Session } from '../../runtime/session.js';
import { num, parse, str, UsageError } from '../args.js';
import { defaultModelPath } from '../paths.js';

export const help = `mixer predict [--model <model.onnx>] [--top K] [--json] <image>...
  Decodes each image with sharp (EXIF orientation, alpha flattened onto white, shorter side resized and centre-cropped)
  and prints the top-K predictions. Default model: the shipped models/mixer-cifar10.onnx (or MODEL_PATH).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals: files } = parse(argv, { model: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' }, threads: { type: 'string' } }, true);
  if (files.length === 0) throw new UsageError('mixer predict: give at least one image file');
  const m = await loadModelFile(str(v, 'model', defaultModelPath()));
  const K = m.spec.labels.length;
  const top = num(v, 'top', Math.min(5, K), { int: true, min: 1, max: K });
  const size = m.spec.config.image_size;
  const px = size * size * 3;
  const batch = new Uint8Array(files.length * px);
  for (const [i, f] of files.entries()) {
    let bytes: Buffer;
    try {
      bytes = await readFile(f);
    } catch (e) {
      throw new UsageError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      batch.set(await decodeImage(bytes, size), i * px);
    } catch (e) {
      throw new UsageError(`${f}: ${(e as Error).message}`);
    }
  }
  const s = await Session.create(m.bytes, { threads: num(v, 'threads', Math.min(2, os.availableParallelism()), { int: true, min: 1 }) });
  const out = await s.run({ pixels: { dtype: 'uint8', dims: [files.length, size, size, 3], data: batch } }, ['probabilities']);
  await s.release();
  const probs = out['probabilities']!.data as Float32Array;
  const results = files.map((filename, i) => {
    const row = Array.from(probs.subarray(i * K, (i + 1) * K));
    const predictions = row
      .map((probability, index) => ({ label: m.spec.labels[index]!, index, probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, top);
    return { filename, predictions };
  });
  if (v['json']) console.log(JSON.stringify({ model: { path: m.path, sha256: m.sha256 }, results }, null, 2));
  else
    for (const r of results) {
      console.log(r.filename);
      for (const p of r.predictions) console.log(`  ${(100 * p.probability).toFixed(1).padStart(5)}%  ${p.label}`);
    }
  return 0;
}
