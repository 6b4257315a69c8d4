// The feedback loop end to end on a real port: a 3-class folder-trained model answers red checkerboards wrongly; 60
// corrections arrive over HTTP; a retrain job runs in a child process while a client sends steady traffic; the new
// version passes the gate, serves 10% (±5 points over 400 requests), is promoted and answers held-out red
// checkerboards correctly; no request fails. Random labels are refused by the gate (nothing written), a canary rolls
// back (its folder kept aside), and an infer key cannot retrain, promote or roll back.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import type { JobView } from '../../src/server/retrain/jobs.js';
import type { RolloutView } from '../../src/server/retrain/rollout.js';
import { launchChromium } from '../fixtures/browser.js';
import { BIN } from '../fixtures/cli.js';
import { CLASSES } from '../fixtures/image-folder.js';
import { makeRetrainWorld, redChecks, WRONG_KIND_LABEL } from '../fixtures/retrain-world.js';
import { testApp } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

if (!existsSync(BIN)) throw new Error('dist/ is missing: run npm run build (npm test does it first)');
const dir = t.testdir();
const world = await makeRetrainWorld(dir);
// Two more models from the same weights: one gets random labels, one is rolled back.
mkdirSync(path.join(world.repo, 'nodata', '1'), { recursive: true });
cpSync(path.join(world.repo, 'shapes', '1', 'model.onnx'), path.join(world.repo, 'nodata', '1', 'model.onnx'));
for (const m of ['noisy', 'undo']) {
  mkdirSync(path.join(world.repo, m, '1'), { recursive: true });
  cpSync(path.join(world.repo, 'shapes', '1', 'model.onnx'), path.join(world.repo, m, '1', 'model.onnx'));
  cpSync(path.join(world.repo, 'shapes', 'config.json'), path.join(world.repo, m, 'config.json'));
}
const feedbackDir = path.join(dir, 'feedback');
const keys = path.join(dir, 'keys.txt');
writeFileSync(keys, 'k-admin scopes=infer,admin,feedback\nk-infer scopes=infer\nk-fb scopes=feedback\n');
const app = await testApp(t, {
  modelRepository: world.repo,
  modelControl: 'explicit',
  feedbackDir,
  apiKeyFile: keys,
  host: '127.0.0.1',
} as Parameters<typeof testApp>[1]);
await app.listen({ port: 0, host: '127.0.0.1' });
const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
const auth = (k: string) => ({ authorization: `Bearer ${k}` });

async function classify(png: Buffer, model: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${url}/classify?model=${model}&top=1`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', ...auth('k-infer'), ...headers },
    body: png,
  });
  const body = (await r.json()) as { results?: { predictions: { label: string }[] }[] };
  return {
    status: r.status,
    version: r.headers.get('x-model-version'),
    label: body.results?.[0]?.predictions[0]?.label,
  };
}

async function correct(model: string, png: Buffer, label: string, predicted: string, name: string) {
  const form = new FormData();
  form.set('image', new Blob([png], { type: 'image/png' }), `${name}.png`);
  form.set('model', model);
  form.set('label', label);
  form.set('predicted', predicted);
  const r = await fetch(`${url}/v1/feedback`, { method: 'POST', headers: auth('k-fb'), body: form });
  if (r.status !== 201) throw new Error(`feedback answered ${r.status}: ${await r.text()}`);
}

/** An admin call; the body as the route's type says (a test reads what it checks). */
const admin = <T = Record<string, unknown>>(method: string, p: string) =>
  fetch(`${url}/v2/repository/${p}`, { method, headers: auth('k-admin') }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as T,
  }));

async function runJob(model: string) {
  const s = await admin('POST', `models/${model}/retrain`);
  if (s.status !== 202) throw new Error(`retrain answered ${s.status}: ${JSON.stringify(s.body)}`);
  let job = {} as JobView;
  await until(
    async () => {
      job = (await admin<JobView>('GET', `jobs/${s.body['job']}`)).body;
      return job.state !== 'running';
    },
    120_000,
    `retrain job of ${model}`,
    100,
  );
  return job;
}

/** Steady traffic: one request after another on the served model, each with its latency, until stopped. */
function traffic(png: Buffer) {
  const samples: { ms: number; status: number; phase: string }[] = [];
  const state = { phase: 'before', stop: false };
  const done = (async () => {
    while (!state.stop) {
      const t0 = performance.now();
      const r = await classify(png, 'shapes').catch(() => ({ status: 0 }));
      samples.push({ ms: performance.now() - t0, status: r.status, phase: state.phase });
      await new Promise((res) => setTimeout(res, 5));
    }
  })();
  return { samples, state, done };
}

const p99 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] ?? Number.NaN;
};

/** The retrain page during the canary (headless Chromium, when installed): the job's figures and the split, and a screenshot. */
async function pageView(t: Test): Promise<void> {
  const c = await launchChromium();
  if ('skip' in c) {
    t.comment(`page view not checked: ${c.skip}`);
    return;
  }
  try {
    const page = await c.browser.newPage();
    await page.setViewport({ width: 900, height: 760 });
    await page.goto(`${url}/ui/retrain?model=shapes`);
    await page.waitForSelector('#key-form:not([hidden])');
    await page.type('#key', 'k-admin');
    await page.click('#key-form button');
    await page.waitForFunction("document.getElementById('job')?.textContent?.includes('canary at 10%')");
    const text = await page.$eval('main', (m) => m.textContent ?? '');
    t.match(text, /Held-out accuracy\s*0\.0% → 100\.0%/);
    t.match(text, /Version 2\s*10\.0%/);
    t.match(text, /Labelled checks-blue\s*60/);
    t.equal(
      await page.$eval('#promote', (b) => (b as unknown as { disabled: boolean }).disabled),
      false,
      'promote is offered',
    );
    const shot = process.env['RETRAIN_SCREENSHOT'] ?? path.join(dir, 'retrain.png');
    await sharp(await page.screenshot({ fullPage: true }))
      .png({ palette: true, quality: 90, compressionLevel: 9 })
      .toFile(shot);
    t.comment(`screenshot: ${shot}`);
  } finally {
    await c.close();
  }
}

const circle = readFileSync(path.join(world.data, CLASSES[0], 'img0.png'));
const heldOut = await Promise.all(Array.from({ length: 20 }, (_, i) => redChecks(5000 + i)));

t.test('corrections → retrain under traffic → gate → 10% canary → promote, with no failed request', async (t) => {
  const load = traffic(circle);
  t.teardown(async () => {
    load.state.stop = true;
    await load.done;
  });
  const before = await Promise.all(heldOut.map((png) => classify(png, 'shapes')));
  const beforeAcc = before.filter((r) => r.label === WRONG_KIND_LABEL).length / heldOut.length;
  t.ok(beforeAcc < 0.5, `version 1 gets red checkerboards wrong (${(100 * beforeAcc).toFixed(0)}% right)`);
  for (let i = 0; i < 60; i++)
    await correct('shapes', await redChecks(i), WRONG_KIND_LABEL, before[0]!.label ?? CLASSES[0], `c${i}`);

  load.state.phase = 'retrain';
  const t0 = performance.now();
  const job = await runJob('shapes');
  const seconds = (performance.now() - t0) / 1000;
  load.state.phase = 'after';
  t.equal(job.state, 'passed', JSON.stringify(job));
  const report = job.report!;
  t.equal(report.version, 2);
  t.equal(report.data.feedback, 60);
  t.equal(job.rollout?.state, 'canary');
  t.equal(job.rollout?.share, 10);

  // 400 requests without a version, each with its own routing key: the canary's share.
  let v2 = 0;
  for (let i = 0; i < 400; i++) {
    const r = await classify(circle, 'shapes', { 'x-routing-key': `client-${i}` });
    t.equal(r.status, 200);
    if (r.version === '2') v2++;
  }
  const share = v2 / 400;
  t.ok(Math.abs(share - 0.1) <= 0.05, `version 2 served ${(100 * share).toFixed(1)}% of 400 requests`);

  await pageView(t);

  const p = await admin<RolloutView>('POST', 'models/shapes/promote');
  t.equal(p.status, 200);
  t.equal(p.body.state, 'promoted');
  const after = await Promise.all(heldOut.map((png) => classify(png, 'shapes')));
  t.ok(
    after.every((r) => r.version === '2'),
    'every request goes to version 2',
  );
  const afterAcc = after.filter((r) => r.label === WRONG_KIND_LABEL).length / heldOut.length;
  t.ok(afterAcc >= 0.9, `version 2 answers ${(100 * afterAcc).toFixed(0)}% of held-out red checkerboards correctly`);
  t.equal((await classify(circle, 'shapes')).label, CLASSES[0], 'and still knows a red circle');

  load.state.stop = true;
  await load.done;
  const failed = load.samples.filter((s) => s.status !== 200);
  t.equal(failed.length, 0, `no failed request of ${load.samples.length}`);
  const during = load.samples.filter((s) => s.phase === 'retrain').map((s) => s.ms);
  const idle = load.samples.filter((s) => s.phase === 'before').map((s) => s.ms);
  t.comment(
    `e2e: 60 corrections; retrain job ${seconds.toFixed(1)} s (report ${report.seconds} s, ${report.training.steps} steps); held-out corrections ${(100 * report.current.held_out_accuracy).toFixed(1)}% → ${(100 * report.candidate.held_out_accuracy).toFixed(1)}%; original validation ${(100 * report.current.original_val_accuracy).toFixed(1)}% → ${(100 * report.candidate.original_val_accuracy).toFixed(1)}%; fresh red checkerboards ${(100 * beforeAcc).toFixed(0)}% → ${(100 * afterAcc).toFixed(0)}%; canary share ${(100 * share).toFixed(1)}% of 400; failed requests ${failed.length} of ${load.samples.length}; p99 latency ${p99(idle).toFixed(1)} ms before (${idle.length} requests), ${p99(during).toFixed(1)} ms during the retrain (${during.length} requests)`,
  );
});

t.test('random labels: the gate refuses, the repository and the split are unchanged', async (t) => {
  let s = 99;
  for (let i = 0; i < 60; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    await correct('noisy', await redChecks(2000 + i), CLASSES[s % 3]!, CLASSES[0], `n${i}`);
  }
  const job = await runJob('noisy');
  t.equal(job.state, 'refused', JSON.stringify(job));
  t.equal(job.report!.written, false);
  t.equal(job.rollout, null);
  t.same(readdirSync(path.join(world.repo, 'noisy')).sort(), ['1', 'config.json']);
  t.same((await admin('GET', 'models/noisy/traffic')).body['traffic'], null, 'the weights are as before');
});

t.test('rollback: the split goes back, the canary unloads, its folder is kept aside', async (t) => {
  for (let i = 0; i < 60; i++) await correct('undo', await redChecks(i), WRONG_KIND_LABEL, CLASSES[0], `u${i}`);
  const job = await runJob('undo');
  t.equal(job.state, 'passed', JSON.stringify(job));
  t.equal((await admin('POST', 'models/undo/retrain')).status, 409, 'no second retrain while a canary is open');
  // Requests keep coming while the canary is rolled back: none fails.
  const statuses: number[] = [];
  const state = { stop: false };
  const during = (async () => {
    while (!state.stop) statuses.push((await classify(circle, 'undo')).status);
  })();
  await until(() => statuses.length >= 5, 10_000, 'requests before the rollback');
  const r = await admin<RolloutView>('POST', 'models/undo/rollback');
  const at = statuses.length;
  await until(() => statuses.length >= at + 5, 10_000, 'requests after the rollback');
  state.stop = true;
  await during;
  t.same(
    statuses.filter((x) => x !== 200),
    [],
    `none of ${statuses.length} requests failed around the rollback`,
  );
  t.equal(r.status, 200, JSON.stringify(r.body));
  t.equal(r.body.state, 'rolled-back');
  t.equal(r.body.kept_as, 'rolled-back-2');
  t.same(readdirSync(path.join(world.repo, 'undo')).sort(), ['1', 'config.json', 'rolled-back-2']);
  const rows = (await admin<{ name: string; version: string }[]>('POST', 'index')).body;
  t.same(
    rows.filter((x) => x.name === 'undo').map((x) => x.version),
    ['1'],
    JSON.stringify(rows),
  );
  t.same((await admin('GET', 'models/undo/traffic')).body['traffic'], null);
  t.equal((await classify(circle, 'undo')).version, '1');
  t.equal((await admin('POST', 'models/undo/rollback')).status, 409, 'nothing left to roll back');
});

t.test('scopes: an infer key cannot retrain, see jobs, promote or roll back; a failed job says why', async (t) => {
  for (const [method, p] of [
    ['POST', 'models/shapes/retrain'],
    ['POST', 'models/shapes/promote'],
    ['POST', 'models/shapes/rollback'],
    ['GET', 'jobs'],
  ] as const) {
    const r = await fetch(`${url}/v2/repository/${p}`, { method, headers: auth('k-infer') });
    t.equal(r.status, 403, `${method} ${p}`);
  }
  t.equal((await admin('GET', 'jobs/no-such-job')).status, 404);
  const failed = await runJob('nodata');
  t.equal(failed.state, 'failed');
  t.match(
    failed.error,
    /^the original training data of "nodata" is not known here: .*--replay-data DIR .*"training_data"/,
    'the reason the job failed',
  );
  t.same((await admin('GET', 'models/nodata/traffic')).body['traffic'], null, 'the split as before');
  t.equal((await admin('POST', 'models/nope/retrain')).status, 404);
});
