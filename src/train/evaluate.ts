// Accuracy, per-class accuracy, confusion matrix and mean loss of a model over a dataset.

import { gatherImages, type ImageDataset } from '../data/dataset.js';
import { LOGITS, PIXELS } from '../model/io-names.js';
import type { Session } from '../runtime/session.js';
import { argmax } from '../util/rank.js';

export interface EvalResult {
  count: number;
  accuracy: number;
  loss: number;
  perClass: { label: string; accuracy: number; count: number }[];
  /** confusion[true][predicted] */
  confusion: number[][];
}

/** Logits (n × K) of n RGB uint8 HWC images: how a model other than onnx-mixer's is run. */
export type ScoreFn = (pixels: Uint8Array, n: number) => Promise<Float32Array>;

/** Runs an inference session (input `pixels`, output `logits`, or `scores` when given) over the dataset in batches. */
export async function evaluate(
  session: Session,
  ds: ImageDataset,
  labels: readonly string[],
  batchSize = 250,
  scores?: ScoreFn,
): Promise<EvalResult> {
  const K = labels.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const px = ds.height * ds.width * 3;
  let lossSum = 0;
  for (let start = 0; start < ds.count; start += batchSize) {
    const n = Math.min(batchSize, ds.count - start);
    let pixels = ds.images.subarray(start * px, (start + n) * px);
    if (ds.files) {
      pixels = new Uint8Array(n * px);
      gatherImages(
        ds,
        Array.from({ length: n }, (_, i) => start + i),
        pixels,
      );
    }
    const logits = scores
      ? await scores(pixels, n)
      : ((
          await session.run({ [PIXELS]: { dtype: 'uint8', dims: [n, ds.height, ds.width, 3], data: pixels } }, [LOGITS])
        )[LOGITS]!.data as Float32Array);
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * K, (i + 1) * K);
      const best = argmax(row);
      const max = row[best]!;
      let z = 0;
      for (let k = 0; k < K; k++) z += Math.exp(row[k]! - max);
      const y = ds.labels[start + i]!;
      lossSum += Math.log(z) + max - row[y]!;
      confusion[y]![best]!++;
    }
  }
  const correct = confusion.reduce((s, r, i) => s + r[i]!, 0);
  return {
    count: ds.count,
    accuracy: correct / Math.max(1, ds.count),
    loss: lossSum / Math.max(1, ds.count),
    perClass: confusion.map((r, i) => {
      const c = r.reduce((a, b) => a + b, 0);
      return { label: labels[i]!, accuracy: c ? r[i]! / c : 0, count: c };
    }),
    confusion,
  };
}

export function formatEval(r: EvalResult): string {
  const lines = [
    `accuracy ${(100 * r.accuracy).toFixed(2)}% on ${r.count} images (mean loss ${r.loss.toFixed(4)})`,
    '',
    'per class:',
  ];
  for (const c of r.perClass)
    lines.push(`  ${c.label.padEnd(12)} ${(100 * c.accuracy).toFixed(1).padStart(5)}%  (${c.count})`);
  lines.push('', 'confusion (rows = true, columns = predicted):');
  const w = Math.max(5, ...r.confusion.flat().map((x) => String(x).length + 1));
  lines.push(' '.repeat(12) + r.perClass.map((c) => c.label.slice(0, w - 1).padStart(w)).join(''));
  r.confusion.forEach((row, i) =>
    lines.push(r.perClass[i]!.label.slice(0, 11).padEnd(12) + row.map((x) => String(x).padStart(w)).join('')),
  );
  return lines.join('\n');
}
