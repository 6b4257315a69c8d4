// Training-step benchmark: fused, separate and data-parallel steps at batch 128, GFLOP/s counting 3× forward, vs the MatMul roofline.
import { forwardMacs, initParams, type ModelSpec } from '../model/index.js';
import { type StepMode, Stepper, zerosLike } from '../train/stepper.js';
import { interleaved, ROOFLINE_N, rooflineSession, table } from './measure.js';

export async function trainStepBench(
  spec: ModelSpec,
  threadsList: number[],
  batch: number,
  rounds: number,
): Promise<string> {
  const c = spec.config;
  const flops = 3 * 2 * forwardMacs(c) * batch;
  const pixels = Uint8Array.from({ length: batch * c.image_size * c.image_size * 3 }, (_, i) => (i * 131) % 256);
  const labels = BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % c.num_classes));
  const rows: (string | number)[][] = [];
  for (const threads of threadsList) {
    const roof = await rooflineSession(threads);
    const tasks: Record<string, () => Promise<void>> = { roofline: roof.run };
    // parallel: the batch split over `threads` single-threaded worker sessions (one thread: the separate graphs).
    const modes: StepMode[] = threads > 1 ? ['fused', 'separate', 'parallel'] : ['fused', 'separate'];
    for (const mode of modes) {
      const st = await Stepper.create(spec, { labelSmoothing: 0.1 }, mode, threads);
      const p = initParams(c, 0);
      const state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
      let step = 0;
      tasks[mode] = async () =>
        void (await st.step({ state, pixels, labels, size: batch, learningRate: 1e-3, step: ++step }));
    }
    const med = await interleaved(tasks, rounds);
    const roofG = roof.flops / med['roofline']! / 1e6;
    rows.push([
      `${threads}`,
      `MatMul ${ROOFLINE_N}³ f32 (roofline)`,
      med['roofline']!.toFixed(1),
      '-',
      roofG.toFixed(1),
      '1.00',
    ]);
    for (const mode of modes) {
      const ms = med[mode]!;
      const g = flops / ms / 1e6;
      rows.push([
        `${threads}`,
        `train step (${mode})`,
        ms.toFixed(1),
        ((1000 * batch) / ms).toFixed(0),
        g.toFixed(1),
        (g / roofG).toFixed(2),
      ]);
    }
  }
  const rss = process.resourceUsage().maxRSS / 1024;
  return `${table(['threads', 'what', 'ms/step', 'images/s', 'GFLOP/s', 'ratio'], rows)}\n\nbatch ${batch}, ${c.depth} blocks; peak RSS of this process ${rss.toFixed(0)} MB`;
}
