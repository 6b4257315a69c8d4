// Stochastic depth: the training graph with per-sample branch masks vs torch autograd, mask feeds, and the trainer.
import t from 'tap';
import { defaultSpec, paramTable, preset, randomParams } from '../../src/model/index.js';
import { type HostTensor, Session } from '../../src/runtime/session.js';
import { buildArtifacts, dropPathRates } from '../../src/train/artifacts.js';
import { dropPathFeeds } from '../../src/train/droppath.js';
import { Rng } from '../../src/util/rng.js';
import {
  fmt,
  normRelError,
  randomLabels,
  randomPixels,
  requirePython,
  runTorch,
  toNumbers,
} from '../fixtures/oracle/torch.js';

const BATCH = 6;
const TOL = 1e-4;

t.test(
  'mask feeds: rates linear from 0, values 0 or 1/(1 − rate), a pure function of (seed, epoch, step)',
  async (t) => {
    t.same(dropPathRates(3, 0.2), [0, 0.1, 0.2]);
    const f = dropPathFeeds(8, 0.3, 4000, 1, 2, 3);
    t.notOk('drop_path.0.tokens' in f, 'block 0 has rate 0: no mask');
    const m = f['drop_path.7.channels']!.data as Float32Array;
    const zeros = m.filter((v) => v === 0).length;
    t.ok(m.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
    t.ok(Math.abs(zeros / 4000 - 0.3) < 0.03, `drop fraction ${(zeros / 4000).toFixed(3)} ≈ 0.3`);
    t.same(dropPathFeeds(8, 0.3, 16, 1, 2, 3), dropPathFeeds(8, 0.3, 16, 1, 2, 3));
    t.notSame(dropPathFeeds(8, 0.3, 16, 1, 2, 3), dropPathFeeds(8, 0.3, 16, 1, 2, 4));
  },
);

if (requirePython(t)) {
  t.test('training graph with drop-path masks: loss and gradients match torch', async (t) => {
    const spec = defaultSpec(preset('tiny'));
    const c = spec.config;
    const table = paramTable(c);
    const params = randomParams(c, 330, 2);
    const rng = new Rng(331);
    const pixels = randomPixels(rng, BATCH, c.image_size);
    const labels = randomLabels(rng, BATCH, c.num_classes);
    const art = buildArtifacts(spec, { labelSmoothing: 0.1, dropPath: 0.5 });
    // tiny has 2 blocks: block 1 (rate 0.5) gets masks; drop some samples in each branch.
    const masks = new Map([
      ['drop_path.1.tokens', Float32Array.of(2, 0, 2, 2, 0, 2)],
      ['drop_path.1.channels', Float32Array.of(0, 2, 2, 0, 2, 2)],
    ]);
    const feeds: Record<string, HostTensor> = {
      pixels: { dtype: 'uint8', dims: [BATCH, c.image_size, c.image_size, 3], data: pixels },
      labels: { dtype: 'int64', dims: [BATCH], data: labels },
    };
    for (const [k, v] of masks) feeds[k] = { dtype: 'float32', dims: [BATCH], data: v };
    for (const p of table) feeds[p.name] = { dtype: 'float32', dims: p.shape, data: params.get(p.name)! };
    const s = await Session.create(art.training, { threads: 1 });
    const out = await s.run(feeds);
    await s.release();
    const [ref] = await runTorch(t.testdir(), [
      { mode: 'grads', spec, params, pixels, labels, batch: BATCH, labelSmoothing: 0.1, dropPath: masks },
    ]);
    const r = ref!.out;
    const loss = (out['loss']!.data as Float32Array)[0]!;
    const refLoss = toNumbers(r.get('loss')!)[0]!;
    t.ok(Math.abs(loss - refLoss) / refLoss < TOL, `loss ours ${loss} torch ${refLoss}`);
    let worst = { name: '', err: 0 };
    for (const p of table) {
      const want = toNumbers(r.get(`${p.name}_grad`)!);
      let n2 = 0;
      for (let i = 0; i < want.length; i++) n2 += want[i]! ** 2;
      if (n2 < 1e-20) continue;
      const err = normRelError(out[`${p.name}_grad`]!.data as Float32Array, want);
      if (err > worst.err) worst = { name: p.name, err };
    }
    t.comment(`worst gradient ${worst.name} ${fmt(worst.err)}`);
    t.ok(worst.err < TOL, 'gradients match torch');
    // The eval graph has no mask inputs.
    const ev = await Session.create(art.eval, { threads: 1 });
    t.notOk(ev.inputNames.includes('drop_path.1.tokens'), 'the eval graph has no masks');
    await ev.release();
  });
}
