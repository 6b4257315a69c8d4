// One step of our AdamW optimizer graph vs torch.optim.AdamW (float32, decay / no-decay parameter groups), at step 5;
// and its flat-buffer form vs a per-parameter update, bit for bit.
import t from 'tap';
import { type AdamWConfig, adamwScalars, adamwUpdate, DEFAULT_ADAMW } from '../../src/autodiff/index.js';
import { defaultSpec, paramTable, preset, randomParams } from '../../src/model/index.js';
import { Builder, Graph, serializeModel } from '../../src/onnx/index.js';
import { type HostTensor, Session } from '../../src/runtime/session.js';
import { decays, optimizerGraph } from '../../src/train/artifacts.js';
import { Rng } from '../../src/util/rng.js';
import {
  fmt,
  maxRelError,
  normRelError,
  randomLike,
  requirePython,
  runTorch,
  toNumbers,
} from '../fixtures/oracle/torch.js';

const STEP = 5;
const LR = 1e-3;
const TOL = 1e-6;
const adamw: AdamWConfig = { ...DEFAULT_ADAMW, weight_decay: 0.05 };

if (requirePython(t)) {
  t.test('one AdamW step matches torch.optim.AdamW', async (t) => {
    const spec = defaultSpec(preset('tiny'));
    const table = paramTable(spec.config);
    t.ok(
      table.some((p) => decays(p.shape)) && table.some((p) => !decays(p.shape)),
      'tiny has both decay and no-decay parameters',
    );

    const params = randomParams(spec.config, 500);
    const rng = new Rng(501);
    const grads = randomLike(rng, params, (r) => r.normal() * 0.1);
    const expAvg = randomLike(rng, params, (r) => r.normal() * 0.05);
    const expAvgSq = randomLike(rng, params, (r) => (r.normal() * 0.05) ** 2 + 1e-6);

    const feeds: Record<string, HostTensor> = {
      learning_rate: { dtype: 'float32', dims: [], data: Float32Array.of(LR) },
      step: { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(STEP)) },
    };
    const state = new Map<string, Float32Array>();
    for (const p of table) {
      feeds[p.name] = { dtype: 'float32', dims: p.shape, data: params.get(p.name)! };
      feeds[`${p.name}_grad`] = { dtype: 'float32', dims: p.shape, data: grads.get(p.name)! };
      feeds[`${p.name}.exp_avg`] = { dtype: 'float32', dims: p.shape, data: expAvg.get(p.name)! };
      feeds[`${p.name}.exp_avg_sq`] = { dtype: 'float32', dims: p.shape, data: expAvgSq.get(p.name)! };
      state.set(`${p.name}_grad`, grads.get(p.name)!);
      state.set(`${p.name}.exp_avg`, expAvg.get(p.name)!);
      state.set(`${p.name}.exp_avg_sq`, expAvgSq.get(p.name)!);
    }

    const session = await Session.create(serializeModel(optimizerGraph(spec, { labelSmoothing: 0, adamw })), {
      threads: 1,
    });
    const ours = await session.run(feeds);
    await session.release();

    const [ref] = await runTorch(t.testdir(), [
      { mode: 'adamw', spec, params, state, adamw, lr: LR, step: STEP, dtype: 'float32' },
    ]);
    const r = ref!.out;

    const worst: Record<string, { name: string; err: number }> = {};
    let worstUpdate = { name: '', err: 0 };
    for (const p of table) {
      for (const [kind, suffix] of [
        ['param', '.updated'],
        ['exp_avg', '.exp_avg.updated'],
        ['exp_avg_sq', '.exp_avg_sq.updated'],
      ] as const) {
        const k = `${p.name}${suffix}`;
        const a = ours[k];
        const b = r.get(k);
        if (!a || !b) {
          t.fail(`missing ${k} (ours ${String(!!a)}, torch ${String(!!b)})`);
          continue;
        }
        const err = maxRelError(a.data as Float32Array, toNumbers(b));
        if (!(err < TOL)) t.fail(`${k}: max rel error ${fmt(err)}`);
        if (!worst[kind] || err >= worst[kind].err) worst[kind] = { name: k, err };
        if (kind === 'param') {
          // The step itself (p' − p) is ~lr of p: its relative error shows the bias-correction precision.
          const p0 = params.get(p.name)!;
          const da = Float64Array.from(a.data as Float32Array, (v, i) => v - p0[i]!);
          const db = Float64Array.from(toNumbers(b) as Float32Array, (v, i) => v - p0[i]!);
          const e = normRelError(da, db);
          if (e >= worstUpdate.err) worstUpdate = { name: p.name, err: e };
        }
      }
    }
    for (const [kind, w] of Object.entries(worst)) {
      t.comment(`AdamW step ${STEP} ${kind}: worst ${w.name} max|ours − torch|/max|torch| ${fmt(w.err)}`);
      t.ok(w.err < TOL, `updated ${kind} match torch.optim.AdamW within ${TOL} (worst ${fmt(w.err)})`);
    }
    t.comment(
      `AdamW step ${STEP}: update (p' − p) ‖ours − torch‖/‖torch‖ worst ${fmt(worstUpdate.err)} (${worstUpdate.name}); informational`,
    );
  });
}

t.test('the flat-buffer update equals a per-parameter update bit for bit', async (t) => {
  const spec = defaultSpec(preset('tiny'));
  const table = paramTable(spec.config);
  // The reference: one adamwUpdate per parameter on its own tensors (the layout before the flat buffers).
  const g = new Graph('adamw_per_param');
  const b = new Builder(g);
  const s = adamwScalars(b, adamw, g.input('learning_rate', 'float32', []), g.input('step', 'int64', []));
  for (const p of table) {
    const outs = adamwUpdate(
      b,
      adamw,
      s,
      g.input(p.name, 'float32', p.shape),
      g.input(`${p.name}_grad`, 'float32', p.shape),
      g.input(`${p.name}.exp_avg`, 'float32', p.shape),
      g.input(`${p.name}.exp_avg_sq`, 'float32', p.shape),
      decays(p.shape),
      { p: `${p.name}.updated`, m: `${p.name}.exp_avg.updated`, v: `${p.name}.exp_avg_sq.updated` },
    );
    for (const x of outs) g.output(x);
  }
  const rng = new Rng(77);
  const params = randomParams(spec.config, 78);
  const feeds: Record<string, HostTensor> = {
    learning_rate: { dtype: 'float32', dims: [], data: Float32Array.of(3e-3) },
    step: { dtype: 'int64', dims: [], data: BigInt64Array.of(2n) },
  };
  for (const p of table) {
    const n = params.get(p.name)!.length;
    feeds[p.name] = { dtype: 'float32', dims: p.shape, data: params.get(p.name)! };
    feeds[`${p.name}_grad`] = {
      dtype: 'float32',
      dims: p.shape,
      data: Float32Array.from({ length: n }, () => rng.normal()),
    };
    feeds[`${p.name}.exp_avg`] = {
      dtype: 'float32',
      dims: p.shape,
      data: Float32Array.from({ length: n }, () => rng.normal() * 0.1),
    };
    feeds[`${p.name}.exp_avg_sq`] = {
      dtype: 'float32',
      dims: p.shape,
      data: Float32Array.from({ length: n }, () => rng.normal() ** 2 * 0.01),
    };
  }
  const run = async (bytes: Uint8Array) => {
    const session = await Session.create(bytes, { threads: 1 });
    const out = await session.run(feeds);
    await session.release();
    return out;
  };
  const ref = await run(serializeModel(g));
  const flat = await run(serializeModel(optimizerGraph(spec, { labelSmoothing: 0, adamw })));
  let differing = 0;
  let compared = 0;
  for (const name of Object.keys(ref)) {
    const a = ref[name]!.data as Float32Array;
    const c = flat[name]?.data as Float32Array | undefined;
    t.same(flat[name]?.dims, ref[name]!.dims, `${name}: shape`);
    if (!c) continue;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], c[i])) differing++;
    compared += a.length;
  }
  t.equal(Object.keys(flat).length, Object.keys(ref).length, `${Object.keys(ref).length} outputs`);
  t.equal(differing, 0, `${compared} updated values equal bit for bit`);
});
