// The retrain gate's decision: a sign test over the held-out corrections where the versions disagree, and the margin on the original validation split.
import t from 'tap';
import { gate, signTestP } from '../../src/train/retrain/gate.js';

const right = (n: number, of: number): boolean[] => Array.from({ length: of }, (_, i) => i < n);

t.test('the sign test', async (t) => {
  t.equal(signTestP(0, 0), 1);
  t.equal(signTestP(1, 1), 0.5);
  t.equal(signTestP(5, 5), 1 / 32);
  t.ok(Math.abs(signTestP(8, 10) - 56 / 1024) < 1e-12, 'P(X ≥ 8 | 10) = (45 + 10 + 1) / 1024');
  t.equal(signTestP(0, 7), 1);
});

t.test('a clear gain on the held-out corrections passes; one image more does not', async (t) => {
  const none = { heldOut: right(0, 15), originalVal: 0.9 };
  const all = { heldOut: right(15, 15), originalVal: 0.9 };
  const g = gate(none, all, 1, 9);
  t.ok(g.pass);
  t.equal(g.wins, 15);
  t.equal(g.losses, 0);
  t.match(g.reasons[0], /0\.00% → 100\.00% \(15 images newly right, 0 newly wrong; sign test p = 0\.000031: better\)/);
  const noisy = gate({ heldOut: right(4, 15), originalVal: 1 }, { heldOut: right(5, 15), originalVal: 1 }, 1, 9);
  t.notOk(noisy.pass, 'one image more is chance');
  t.match(noisy.reasons[0], /not better beyond chance/);
  // Same accuracy, different images: wins and losses cancel.
  const swap = gate(
    { heldOut: [true, false, true, false], originalVal: 1 },
    { heldOut: [false, true, false, true], originalVal: 1 },
    1,
    9,
  );
  t.notOk(swap.pass);
  t.equal(swap.wins, 2);
  t.equal(swap.losses, 2);
});

t.test('the margin on the original validation split', async (t) => {
  const cur = { heldOut: right(0, 10), originalVal: 0.9 };
  t.ok(
    gate(cur, { heldOut: right(10, 10), originalVal: 0.89 }, 1, 100).pass,
    'one point lost: within the default margin',
  );
  const worse = gate(cur, { heldOut: right(10, 10), originalVal: 0.885 }, 1, 200);
  t.notOk(worse.pass, '1.5 points lost');
  t.match(worse.reasons[1], /1\.50 points lost; margin 1 points: exceeded/);
  t.ok(gate(cur, { heldOut: right(10, 10), originalVal: 0.885 }, 2, 200).pass, 'a wider margin');
  t.notOk(gate(cur, { heldOut: right(10, 10), originalVal: 1 }, 1, 0).pass, 'no validation images: cannot be checked');
});
