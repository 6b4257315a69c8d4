// Canary rollouts over a stand-in repository: the split at each step, promote and rollback answers, 409 without a
// canary, and the automatic rule (promote when the canary fails no more often than the incumbent, else roll back).
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import t from 'tap';
import type { Repository } from '../../src/server/repository/repository.js';
import { Rollouts } from '../../src/server/retrain/rollout.js';
import { InferenceStats } from '../../src/server/stats.js';
import type { TrafficWeights } from '../../src/server/traffic/split.js';
import { until } from '../fixtures/until.js';

/** The part of a Repository that rollouts use: versions are the numeric folders of `<root>/<model>`, all READY. */
function fakeRepo(root: string) {
  const weights = new Map<string, TrafficWeights | null>();
  const loaded = new Map<string, number[]>();
  const scan = (m: string) =>
    readdirSync(path.join(root, m))
      .filter((f) => /^\d+$/.test(f))
      .map(Number)
      .sort((a, b) => a - b);
  const repo = {
    refresh: async (m: string) => {
      loaded.set(m, scan(m));
    },
    versions: (m: string) =>
      (loaded.get(m) ?? []).map((version) => ({ version, state: 'READY', reason: '', instance: null })),
    traffic: (m: string) => ({ name: m, traffic: weights.get(m) ?? null, shares: {} }),
    setTraffic: (m: string, w: TrafficWeights | null) => {
      weights.set(m, w);
      return repo.traffic(m);
    },
  };
  return { repo: repo as unknown as Repository, weights, loaded, scan };
}

function world(t: { testdir: () => string }, autoRequests = 0) {
  const root = t.testdir();
  for (const v of ['1', '2']) mkdirSync(path.join(root, 'm', v), { recursive: true });
  const f = fakeRepo(root);
  f.loaded.set('m', [1]);
  const stats = new InferenceStats();
  const r = new Rollouts({ repo: f.repo, stats, root, share: 10, autoRequests, log: pino({ level: 'silent' }) });
  return { root, ...f, stats, r };
}

t.test('start, promote; 409 without a canary', async (t) => {
  const w = world(t);
  t.teardown(() => w.r.close());
  t.equal(w.r.pin('m', 1), null, 'no split before');
  t.same(w.weights.get('m'), { '1': 100 }, 'pinned to the incumbent while the job runs');
  const v = await w.r.start('m', 1, 2, null);
  t.equal(v.state, 'canary');
  t.same(w.weights.get('m'), { '1': 90, '2': 10 });
  w.stats.request('m', 2, true, 5);
  w.stats.request('m', 1, false, 5);
  t.same(w.r.view('m')?.candidate_stats, { requests: 1, failures: 0 });
  t.same(w.r.view('m')?.incumbent_stats, { requests: 1, failures: 1 });
  const p = w.r.promote('m');
  t.equal(p.state, 'promoted');
  t.equal(p.decided_by, 'api');
  t.same(w.weights.get('m'), { '2': 100 });
  t.throws(() => w.r.promote('m'), { code: 'CONFLICT', message: /version 2 was promoted/ });
  await t.rejects(w.r.rollback('m'), { code: 'CONFLICT' });
  t.throws(() => w.r.promote('other'), { code: 'CONFLICT', message: /retrain it first/ });
});

t.test('rollback: incumbent first, folder kept aside, the split from before restored', async (t) => {
  const w = world(t);
  t.teardown(() => w.r.close());
  w.weights.set('m', { '1': 100 });
  await w.r.start('m', 1, 2, { '1': 100 });
  const v = await w.r.rollback('m');
  t.equal(v.state, 'rolled-back');
  t.equal(v.kept_as, 'rolled-back-2');
  t.same(readdirSync(path.join(w.root, 'm')).sort(), ['1', 'rolled-back-2']);
  t.same(w.loaded.get('m'), [1], 'rescanned: version 2 is gone');
  t.same(w.weights.get('m'), { '1': 100 });
});

t.test('the automatic rule promotes a canary that fails no more often', async (t) => {
  const w = world(t, 5);
  t.teardown(() => w.r.close());
  await w.r.start('m', 1, 2, null);
  for (let i = 0; i < 4; i++) w.stats.request('m', 2, true, 5);
  for (let i = 0; i < 10; i++) w.stats.request('m', 1, i > 0, 5);
  await new Promise((r) => setTimeout(r, 600)); // two checks: 4 requests are not enough
  t.equal(w.r.view('m')?.state, 'canary', 'undecided before N requests');
  w.stats.request('m', 2, true, 5);
  await until(() => w.r.view('m')?.state !== 'canary', 5000, 'the automatic decision');
  const v = w.r.view('m')!;
  t.equal(v.state, 'promoted');
  t.equal(v.decided_by, 'auto');
  t.match(v.reason, /no higher error rate after 5 requests \(candidate 0\/5 failed, incumbent 1\/10\)/);
});

t.test('the automatic rule rolls back a canary that fails more often', async (t) => {
  const w = world(t, 5);
  t.teardown(() => w.r.close());
  await w.r.start('m', 1, 2, null);
  // The incumbent's requests first: the rule may decide as soon as the candidate has its 5.
  for (let i = 0; i < 10; i++) w.stats.request('m', 1, true, 5);
  for (let i = 0; i < 5; i++) w.stats.request('m', 2, i !== 2, 5);
  // The decision marks the rollout at once; the rollback (folder renamed, model rescanned, split restored) goes on.
  await until(() => w.r.view('m')?.state !== 'canary' && w.weights.get('m') === null, 5000, 'the automatic rollback');
  const v = w.r.view('m')!;
  t.equal(v.state, 'rolled-back');
  t.match(v.reason, /higher error rate after 5 requests \(candidate 1\/5 failed, incumbent 0\/10\)/);
  t.same(w.weights.get('m'), null, 'the split from before (none)');
  t.same(readdirSync(path.join(w.root, 'm')).sort(), ['1', 'rolled-back-2']);
});
