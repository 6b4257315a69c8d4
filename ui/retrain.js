// The retrain page: a model's corrections, its traffic split, its latest retrain job (progress, gate figures) and the canary's promote / roll back.
import { ApiError, errorOf, getJson, keyForm, listModels, request } from './api.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const select = /** @type {HTMLSelectElement} */ ($('model'));
const buttons = {
  retrain: /** @type {HTMLButtonElement} */ ($('retrain')),
  promote: /** @type {HTMLButtonElement} */ ($('promote')),
  rollback: /** @type {HTMLButtonElement} */ ($('rollback')),
};
const keys = keyForm(/** @type {HTMLFormElement} */ ($('key-form')), () => start());
/** @type {ReturnType<typeof setTimeout> | null} */
let timer = null;

/** @param {string} text @param {boolean} [error] */
function say(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

/** Fills a <dl> with [term, value] rows (null rows left out). @param {string} id @param {Array<[string, unknown]>} rows */
function kv(id, rows) {
  const dl = $(id);
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

/** @param {unknown} x */
const pct = (x) => (typeof x === 'number' ? `${(100 * x).toFixed(1)}%` : null);

/** @param {unknown} e @param {boolean} focus */
function fail(e, focus) {
  if (e instanceof ApiError && e.status === 401) keys.ask(focus);
  say(e instanceof Error ? e.message : String(e), true);
}

/** The job's progress in words. @param {any} job */
function progressText(job) {
  const p = job.progress;
  if (job.state !== 'running') return null;
  if (!p) return 'starting';
  if (p.phase === 'train') return `training: step ${p.step} of ${p.steps} (loss ${Number(p.loss).toFixed(3)})`;
  /** @type {Record<string, string>} */
  const words = {
    data: 'reading the corrections and the original data',
    evaluate: 'scoring the current version',
    gate: 'scoring the candidate',
    write: 'writing the new version',
  };
  return words[String(p.phase)] ?? String(p.phase);
}

/** Reads the model's corrections, split and latest job, and shows them; polls while a job runs. */
async function refresh() {
  if (timer) clearTimeout(timer);
  const model = select.value;
  if (!model) return;
  const q = encodeURIComponent(model);
  try {
    const [fb, traffic, jobs] = await Promise.all([
      getJson(`/v1/feedback/${q}`).catch(() => null),
      getJson(`/v2/repository/models/${q}/traffic`),
      getJson('/v2/repository/jobs'),
    ]);
    kv(
      'feedback',
      fb
        ? [
            ['Corrections', fb.total],
            ...Object.entries(fb.labels ?? {}).map(([l, n]) => /** @type {[string, unknown]} */ ([`Labelled ${l}`, n])),
          ]
        : [['Corrections', 'none readable (feedback off, or no admin scope)']],
    );
    kv(
      'traffic',
      Object.entries(traffic.shares ?? {}).map(([v, s]) => /** @type {[string, unknown]} */ ([`Version ${v}`, pct(s)])),
    );
    const job = (jobs.jobs ?? []).find((/** @type {any} */ j) => j.model === model) ?? null;
    const r = job?.report;
    const ro = job?.rollout;
    kv(
      'job',
      job
        ? [
            ['State', job.state],
            ['Progress', progressText(job)],
            ['Retrained from', `version ${job.from_version}`],
            ['Corrections (held out)', r ? `${r.data.feedback} (${r.data.held_out})` : null],
            [
              'Held-out accuracy',
              r ? `${pct(r.current.held_out_accuracy)} → ${pct(r.candidate.held_out_accuracy)}` : null,
            ],
            [
              'Original validation',
              r ? `${pct(r.current.original_val_accuracy)} → ${pct(r.candidate.original_val_accuracy)}` : null,
            ],
            ['Took', r ? `${r.seconds} s` : null],
            ['New version', r?.version ?? (r ? 'none: the gate refused it' : null)],
            [
              'Rollout',
              ro
                ? `${ro.state}${ro.state === 'canary' ? ` at ${ro.share}%` : ''}${ro.reason ? ` (${ro.reason})` : ''}`
                : null,
            ],
            [
              'Canary requests',
              ro?.state === 'canary' ? `${ro.candidate_stats.requests} (${ro.candidate_stats.failures} failed)` : null,
            ],
            ['Error', job.error],
          ]
        : [['State', 'no retrain since the server started']],
    );
    const reasons = $('reasons');
    reasons.replaceChildren(
      ...(r?.gate?.reasons ?? []).map((/** @type {string} */ t) =>
        Object.assign(document.createElement('li'), { textContent: t }),
      ),
    );
    buttons.retrain.disabled = job?.state === 'running' || ro?.state === 'canary';
    buttons.promote.disabled = ro?.state !== 'canary';
    buttons.rollback.disabled = ro?.state !== 'canary';
    if (job?.state === 'running' || ro?.state === 'canary') timer = setTimeout(refresh, 1000);
    say('');
  } catch (e) {
    fail(e, false);
  }
}

/** POSTs an action and refreshes. @param {string} path @param {string} done */
async function act(path, done) {
  try {
    const res = await request(path, { method: 'POST' });
    if (!res.ok) throw await errorOf(res);
    say(done);
    await refresh();
  } catch (e) {
    fail(e, true);
  }
}

const path = (/** @type {string} */ what) => `/v2/repository/models/${encodeURIComponent(select.value)}/${what}`;
buttons.retrain.addEventListener('click', () => act(path('retrain'), 'Retrain started.'));
buttons.promote.addEventListener('click', () => act(path('promote'), 'Promoted: the new version takes every request.'));
buttons.rollback.addEventListener('click', () => act(path('rollback'), 'Rolled back: the previous split is restored.'));
select.addEventListener('change', () => refresh());

async function start() {
  try {
    const models = [...new Set((await listModels()).filter((m) => m.fromRepository).map((m) => m.name))];
    select.replaceChildren(
      ...models.map((n) => Object.assign(document.createElement('option'), { value: n, textContent: n })),
    );
    const wanted = new URLSearchParams(location.search).get('model');
    if (wanted && models.includes(wanted)) select.value = wanted;
    select.disabled = models.length === 0;
    if (models.length === 0) say('Retraining needs a model repository (--model-repository).', true);
    await refresh();
  } catch (e) {
    fail(e, false);
  }
}

start();
