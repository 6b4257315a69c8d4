// Inference benchmark: images/s at batch 1/8/64 for our graph (and the timm peer export), as a ratio to the MatMul roofline.
import { existsSync } from 'node:fs';
import { forwardMacs, type ModelSpec } from '../model/index.js';
import { Session } from '../runtime/session.js';
import { interleaved, rooflineSession, table } from './measure.js';

export interface InferenceBenchOptions {
  models: { name: string; bytes: Uint8Array | string }[];
  spec: ModelSpec;
  threads: number[];
  batches: number[];
  rounds: number;
}

export async function inferenceBench(o: InferenceBenchOptions): Promise<string> {
  const c = o.spec.config;
  const flopsPerImage = 2 * forwardMacs(c);
  const rows: (string | number)[][] = [];
  for (const threads of o.threads) {
    const roof = await rooflineSession(threads);
    const tasks: Record<string, () => Promise<void>> = { roofline: roof.run };
    for (const m of o.models) {
      if (typeof m.bytes === 'string' && !existsSync(m.bytes)) continue;
      const s = await Session.create(m.bytes, { threads });
      for (const n of o.batches) {
        const data = Uint8Array.from({ length: n * c.image_size * c.image_size * 3 }, (_, i) => (i * 131) % 256);
        const feeds = { pixels: { dtype: 'uint8' as const, dims: [n, c.image_size, c.image_size, 3], data } };
        tasks[`${m.name}|${n}`] = async () => void (await s.run(feeds, ['logits']));
      }
    }
    const med = await interleaved(tasks, o.rounds);
    const roofGflops = roof.flops / med['roofline']! / 1e6;
    rows.push([`${threads}`, 'MatMul 2048³ (roofline)', '-', med['roofline']!.toFixed(2), '-', roofGflops.toFixed(1), '1.00']);
    for (const [k, ms] of Object.entries(med)) {
      if (k === 'roofline') continue;
      const [name, nStr] = k.split('|') as [string, string];
      const n = Number(nStr);
      const gflops = (flopsPerImage * n) / ms / 1e6;
      rows.push([`${threads}`, name, n, ms.toFixed(2), ((1000 * n) / ms).toFixed(0), gflops.toFixed(1), (gflops / roofGflops).toFixed(2)]);
    }
  }
  return table(['threads', 'graph', 'batch', 'ms/batch', 'images/s', 'GFLOP/s', 'ratio'], rows);
}
