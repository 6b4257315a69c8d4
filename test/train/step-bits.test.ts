// The fused train step vs a reference built the way it was before the flat-buffer AdamW and the tiled channel MLPs
// (the untiled training graph's gradients feeding one AdamW update per parameter, in one graph): several steps fed
// back, every output bit for bit.
import t from 'tap';
import { adamwScalars, adamwUpdate, DEFAULT_ADAMW } from '../../src/autodiff/index.js';
import { defaultSpec, initParams, type ModelSpec, paramTable, preset } from '../../src/model/index.js';
import { Builder, type Graph, serializeModel } from '../../src/onnx/index.js';
import { type HostTensor, Session } from '../../src/runtime/session.js';
import {
  type ArtifactOptions,
  decays,
  dropPathInput,
  dropPathRates,
  trainableParams,
  trainingGraph,
  trainStepGraph,
} from '../../src/train/artifacts.js';
import { Rng } from '../../src/util/rng.js';

const STEPS = 3;
const BATCH = 6;

/** The fused step as it was built: gradients of the untiled training graph, then per-parameter AdamW nodes. */
function referenceStep(spec: ModelSpec, opts: ArtifactOptions): Graph {
  const g = trainingGraph(spec, { ...opts, channelTiles: 1 });
  const b = new Builder(g);
  const cfg = opts.adamw ?? DEFAULT_ADAMW;
  const s = adamwScalars(b, cfg, g.input('learning_rate', 'float32', []), g.input('step', 'int64', []));
  for (const p of trainableParams(spec, opts)) {
    const outs = adamwUpdate(
      b,
      cfg,
      s,
      g.value(p.name),
      g.value(`${p.name}_grad`),
      g.input(`${p.name}.exp_avg`, 'float32', p.shape),
      g.input(`${p.name}.exp_avg_sq`, 'float32', p.shape),
      decays(p.shape),
      { p: `${p.name}.updated`, m: `${p.name}.exp_avg.updated`, v: `${p.name}.exp_avg_sq.updated` },
    );
    for (const x of outs) g.output(x);
  }
  return g;
}

const f32 = (dims: readonly number[], data: Float32Array): HostTensor => ({ dtype: 'float32', dims, data });

/** Runs STEPS steps of `graph` from the same start, feeding the updated state back; returns every step's outputs. */
async function run(
  graph: Graph,
  spec: ModelSpec,
  opts: ArtifactOptions,
  threads: number,
): Promise<Record<string, HostTensor>[]> {
  const c = spec.config;
  const rng = new Rng(5);
  const pixels = Uint8Array.from({ length: BATCH * c.image_size * c.image_size * 3 }, () => rng.int(256));
  const feeds: Record<string, HostTensor> = {
    pixels: { dtype: 'uint8', dims: [BATCH, c.image_size, c.image_size, 3], data: pixels },
  };
  if (opts.softTargets) {
    feeds['targets'] = f32(
      [BATCH, c.num_classes],
      Float32Array.from({ length: BATCH * c.num_classes }, (_, i) => (i % c.num_classes === i % 3 ? 0.9 : 0.1 / 9)),
    );
  } else {
    feeds['labels'] = {
      dtype: 'int64',
      dims: [BATCH],
      data: BigInt64Array.from({ length: BATCH }, (_, i) => BigInt(i)),
    };
  }
  if (opts.dropPath)
    dropPathRates(c.depth, opts.dropPath).forEach((r, i) => {
      if (r <= 0) return;
      for (const br of ['tokens', 'channels'] as const)
        feeds[dropPathInput(i, br)] = f32(
          [BATCH],
          Float32Array.from({ length: BATCH }, (_, k) => ((k + i) % 3 === 0 ? 0 : 1 / (1 - r))),
        );
    });
  const params = initParams(c, 9);
  for (const p of paramTable(c)) feeds[p.name] = f32(p.shape, params.get(p.name)!);
  for (const p of trainableParams(spec, opts)) {
    const n = params.get(p.name)!.length;
    feeds[`${p.name}.exp_avg`] = f32(p.shape, new Float32Array(n));
    feeds[`${p.name}.exp_avg_sq`] = f32(p.shape, new Float32Array(n));
  }
  const session = await Session.create(serializeModel(graph), { threads, memPattern: false });
  const outs: Record<string, HostTensor>[] = [];
  for (let step = 1; step <= STEPS; step++) {
    const out = await session.run({
      ...feeds,
      learning_rate: f32([], Float32Array.of(2e-3 * step)),
      step: { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(step)) },
    });
    outs.push(out);
    for (const p of trainableParams(spec, opts)) {
      feeds[p.name] = out[`${p.name}.updated`]!;
      feeds[`${p.name}.exp_avg`] = out[`${p.name}.exp_avg.updated`]!;
      feeds[`${p.name}.exp_avg_sq`] = out[`${p.name}.exp_avg_sq.updated`]!;
    }
  }
  await session.release();
  return outs;
}

const cases: [string, ArtifactOptions][] = [
  ['hard labels, label smoothing (default: 2 tiles)', { labelSmoothing: 0.1 }],
  ['hard labels, 16 channel tiles (one token each)', { labelSmoothing: 0.1, channelTiles: 16 }],
  [
    'soft targets, drop path, 4 tiles, frozen stem and one channel weight',
    {
      labelSmoothing: 0,
      softTargets: true,
      dropPath: 0.2,
      channelTiles: 4,
      frozen: new Set(['stem.proj.weight', 'stem.proj.bias', 'blocks.0.mlp_channels.fc2.weight']),
    },
  ],
];

for (const [name, opts] of cases) {
  for (const threads of [1, 2]) {
    t.test(
      `fused step = per-parameter reference over ${STEPS} steps, bit for bit: ${name}, ${threads} thread(s)`,
      async (t) => {
        const spec = defaultSpec(preset('tiny'));
        const ref = await run(referenceStep(spec, opts), spec, opts, threads);
        const ours = await run(trainStepGraph(spec, opts), spec, opts, threads);
        const names = [
          'loss',
          ...trainableParams(spec, opts).flatMap((p) => [
            `${p.name}.updated`,
            `${p.name}.exp_avg.updated`,
            `${p.name}.exp_avg_sq.updated`,
          ]),
        ];
        for (let s = 0; s < STEPS; s++) {
          let differing = 0;
          let compared = 0;
          let changed = 0;
          for (const k of names) {
            const a = ref[s]![k]!.data as Float32Array;
            const b = ours[s]![k]?.data as Float32Array | undefined;
            if (!b || b.length !== a.length) {
              t.fail(`step ${s + 1}: ${k} missing or of another size`);
              continue;
            }
            const ab = new Uint32Array(a.buffer, a.byteOffset, a.length);
            const bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
            for (let i = 0; i < ab.length; i++) if (ab[i] !== bb[i]) differing++;
            compared += a.length;
          }
          // The step did something: parameters moved from the previous step's values.
          if (s > 0)
            for (const p of trainableParams(spec, opts)) {
              const prev = ref[s - 1]![`${p.name}.updated`]!.data as Float32Array;
              const cur = ref[s]![`${p.name}.updated`]!.data as Float32Array;
              if (cur.some((v, i) => v !== prev[i])) changed++;
            }
          t.equal(differing, 0, `step ${s + 1}: ${compared} values (loss, parameters, moments) equal bit for bit`);
          if (s > 0)
            t.equal(changed, trainableParams(spec, opts).length, `step ${s + 1}: every trainable tensor moved`);
        }
      },
    );
  }
}
