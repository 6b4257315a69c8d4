// `mixer predict`: classify image files with a model (the shipped one by default, or any ONNX image classifier) and print the top-K labels.

import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { decodeImage } from '../../image/decode.js';
import { topK } from '../../model/predictions.js';
import { Session } from '../../runtime/session.js';
import { pixelsToInput } from '../../server/repository/contract.js';
import { classifyBatch, imageContract, openModelFile } from '../../server/repository/local.js';
import { num, parse, str, UsageError } from '../args.js';
import { defaultModelPath } from '../paths.js';

export const help = `mixer predict [--model <model.onnx>] [--config config.json] [--labels labels.txt] [--top K] [--json] <image>...
  Decodes each image with sharp (EXIF orientation, alpha flattened onto white, shorter side resized and centre-cropped)
  and prints the top-K predictions. Default model: the shipped models/mixer-cifar10.onnx (or MODEL_PATH).
  Models not written by onnx-mixer: the input, layout and size come from the graph; --config completes them (mean, std,
  resize, ... as in a model repository's config.json) and --labels names the classes, one per line.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals: files } = parse(
    argv,
    {
      model: { type: 'string' },
      config: { type: 'string' },
      labels: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
      threads: { type: 'string' },
    },
    true,
  );
  if (files.length === 0) throw new UsageError('mixer predict: give at least one image file');
  const m = await openModelFile(str(v, 'model', defaultModelPath()), {
    ...(v['config'] !== undefined ? { config: str(v, 'config') } : {}),
    ...(v['labels'] !== undefined ? { labels: str(v, 'labels') } : {}),
  });
  const c = imageContract(m);
  const batch = new Uint8Array(files.length * c.itemBytes);
  for (const [i, f] of files.entries()) {
    let bytes: Buffer;
    try {
      bytes = await readFile(f);
    } catch (e) {
      throw new UsageError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        cause: e,
      });
    }
    try {
      const px = await decodeImage(bytes, c);
      batch.set(pixelsToInput(px, c), i * c.itemBytes);
    } catch (e) {
      throw new UsageError(`${f}: ${(e as Error).message}`, { cause: e });
    }
  }
  const s = await Session.create(m.bytes, {
    threads: num(v, 'threads', Math.min(2, os.availableParallelism()), { int: true, min: 1 }),
  });
  const probs = await classifyBatch(s, m, batch, files.length);
  await s.release();
  const K = probs[0]!.length;
  const labels = m.contract.labels ?? Array.from({ length: K }, (_, i) => String(i));
  if (labels.length !== K)
    throw new UsageError(`${v['labels'] ?? 'the labels'} has ${labels.length} labels but the model has ${K} classes`);
  const top = num(v, 'top', Math.min(5, K), { int: true, min: 1, max: K });
  const results = files.map((filename, i) => {
    return { filename, predictions: topK(probs[i]!, labels, top) };
  });
  if (v['json']) console.log(JSON.stringify({ model: { path: m.path, sha256: m.sha256 }, results }, null, 2));
  else
    for (const r of results) {
      console.log(r.filename);
      for (const p of r.predictions) console.log(`  ${(100 * p.probability).toFixed(1).padStart(5)}%  ${p.label}`);
    }
  return 0;
}
