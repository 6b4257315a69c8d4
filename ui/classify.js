// The classify page: images in by drop, picker or paste; one POST /classify per image; top-k bars, latency, readable errors and a correction form per answer.
import { ApiError, errorOf, keyForm, listModels, modelQuery, request } from './api.js';
import { correctionForm, probeFeedback } from './feedback.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const modelSel = /** @type {HTMLSelectElement} */ ($('model'));
const topSel = /** @type {HTMLSelectElement} */ ($('top'));
const filesInput = /** @type {HTMLInputElement} */ ($('files'));
const results = $('results');
const status = $('status');
const drop = $('drop');
const clearBtn = /** @type {HTMLButtonElement} */ ($('clear'));
const modelLink = /** @type {HTMLAnchorElement} */ ($('model-link'));

/** Requests in flight at once (the server batches them anyway). */
const PARALLEL = 4;
/** Retries of a 503 that names Retry-After, each waiting at most MAX_WAIT_S. */
const RETRIES_503 = 2;
const MAX_WAIT_S = 10;

/** @type {import('./api.js').ModelChoice[]} */
let models = [];
/**
 * @typedef {{ file: File, url: string, gen: number, card: HTMLLIElement, meta: HTMLElement, preds: HTMLOListElement, fix: HTMLElement, error: HTMLElement, retry: HTMLButtonElement, ok: boolean }} Item
 * @type {Item[]}
 */
let items = [];

/** Whether the server takes corrections (asked at start, and again once a key is entered). */
let feedbackOn = probeFeedback();

const keys = keyForm(/** @type {HTMLFormElement} */ ($('key-form')), () => {
  feedbackOn = probeFeedback();
  loadModels().then(() => classifyAll(items));
});

/** @param {string} text @param {boolean} [error] */
function say(text, error = false) {
  status.textContent = text;
  status.classList.toggle('error', error);
}

/** @param {string} tag @param {string} [cls] @param {string} [text] */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const current = () => models[Number(modelSel.value)] ?? null;

/** @param {number} p */
export const percent = (p) => `${(p * 100).toFixed(1)}%`;

async function loadModels() {
  modelSel.disabled = true;
  try {
    models = await listModels();
  } catch (e) {
    const err = /** @type {ApiError} */ (e);
    modelSel.replaceChildren(el('option', '', err.status === 401 ? 'API key needed' : 'unavailable'));
    say(err.message, true);
    if (err.status === 401) keys.ask(false);
    return;
  }
  const before = current();
  modelSel.replaceChildren(
    ...models.map((m, i) => {
      const o = /** @type {HTMLOptionElement} */ (
        el(
          'option',
          '',
          `${m.name}${m.version !== null ? ` v${m.version}` : ''} · ${m.inputSize} px · ${m.labels ?? '?'} labels`,
        )
      );
      o.value = String(i);
      return o;
    }),
  );
  const keep = before ? models.findIndex((m) => m.name === before.name && m.version === before.version) : -1;
  modelSel.value = String(Math.max(0, keep));
  modelSel.disabled = models.length === 0;
  if (models.length === 0) say('The server has no model ready yet.', true);
  else if (status.classList.contains('error')) say('');
  linkModel();
}

function linkModel() {
  const m = current();
  const q = m ? modelQuery(m).toString() : '';
  modelLink.href = q ? `/ui/model?${q}` : '/ui/model';
}

/** @param {File} file @returns {Item} */
function addItem(file) {
  const url = URL.createObjectURL(file);
  const card = /** @type {HTMLLIElement} */ (el('li', 'card'));
  const name = file.name || 'pasted image';
  const img = /** @type {HTMLImageElement} */ (el('img', 'thumb'));
  img.alt = `thumbnail of ${name}`;
  // Not something the browser can show (a text file, say): a plain tile with the file's type instead of a broken image.
  img.addEventListener(
    'error',
    () => img.replaceWith(el('span', 'thumb none', (/\.(\w{1,5})$/.exec(name)?.[1] ?? 'file').toUpperCase())),
    { once: true },
  );
  img.src = url;
  const body = el('div', 'body');
  const meta = el('p', 'meta');
  const preds = /** @type {HTMLOListElement} */ (el('ol', 'preds'));
  const fix = el('div', 'fixes');
  const error = el('p', 'error');
  const retry = /** @type {HTMLButtonElement} */ (el('button', 'retry', 'Retry'));
  retry.type = 'button';
  retry.hidden = true;
  const title = el('h2', 'name', name);
  title.tabIndex = -1;
  body.append(title, meta, preds, fix, error, retry);
  card.append(img, body);
  results.append(card);
  /** @type {Item} */
  const item = { file, url, gen: 0, card, meta, preds, fix, error, retry, ok: false };
  retry.addEventListener('click', () => {
    classifyAll([item]).then(() => item.card.querySelector('h2')?.focus());
  });
  return item;
}

/** @param {Response} res */
function serverMs(res) {
  const m = /(?:^|,)\s*app\s*;\s*dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
  return m ? Number(m[1]) : null;
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @param {Item} item @param {'pending' | 'done' | 'error'} state */
function setState(item, state) {
  item.card.dataset.state = state;
  item.card.setAttribute('aria-busy', String(state === 'pending'));
}

/** Sends one image; shows its answer or a readable error (a stale answer, after a model change, is dropped). @param {Item} item */
async function classifyOne(item) {
  const gen = ++item.gen;
  const model = current();
  if (!model) return;
  setState(item, 'pending');
  item.retry.hidden = true;
  item.error.textContent = '';
  item.fix.replaceChildren();
  item.meta.textContent = `classifying with ${model.name}…`;
  const q = modelQuery(model);
  q.set('top', topSel.value);
  for (let attempt = 0; ; attempt++) {
    const form = new FormData();
    form.append('image', item.file, item.file.name || 'pasted.png');
    const t0 = performance.now();
    try {
      const res = await request(`/classify?${q}`, { method: 'POST', body: form });
      if (!res.ok) throw await errorOf(res);
      const body = await res.json();
      if (gen !== item.gen) return;
      const rtt = performance.now() - t0;
      show(item, body, serverMs(res), rtt);
      return;
    } catch (e) {
      if (gen !== item.gen) return;
      const err =
        e instanceof ApiError ? e : new ApiError(`Unexpected answer: ${/** @type {Error} */ (e).message}`, 0, 'CLIENT');
      if (err.status === 503 && err.retryAfter !== null && attempt < RETRIES_503) {
        const wait = Math.min(err.retryAfter, MAX_WAIT_S);
        item.meta.textContent = `${err.message} Retrying in ${wait} s…`;
        await sleep(wait * 1000);
        if (gen !== item.gen) return;
        continue;
      }
      fail(item, err);
      return;
    }
  }
}

/** @param {Item} item @param {any} body @param {number | null} server @param {number} rtt */
function show(item, body, server, rtt) {
  const r = body?.results?.[0];
  if (!r || !Array.isArray(r.predictions))
    return fail(item, new ApiError('The server answered without predictions.', 200, 'CLIENT'));
  const m = body.model ?? {};
  const who = `${m.name ?? '?'}${m.version != null ? ` v${m.version}` : ''}`;
  item.meta.textContent = `${who} · server ${server !== null ? `${server.toFixed(1)} ms` : 'n/a'} · round trip ${rtt.toFixed(0)} ms`;
  item.preds.replaceChildren(
    ...r.predictions.map((/** @type {{label: string, index: number, probability: number}} */ p) => {
      const li = el('li', 'pred');
      li.dataset.label = String(p.label);
      li.dataset.index = String(p.index);
      li.dataset.probability = String(p.probability);
      const bar = el('span', 'bar');
      bar.setAttribute('aria-hidden', 'true');
      const fill = el('span', 'fill');
      fill.style.width = `${Math.max(0, Math.min(1, p.probability)) * 100}%`;
      bar.append(fill);
      li.append(el('span', 'label', String(p.label)), bar, el('span', 'pct', percent(p.probability)));
      return li;
    }),
  );
  item.ok = true;
  setState(item, 'done');
  offerCorrection(item, {
    file: item.file,
    model: String(m.name ?? ''),
    version: m.version != null ? String(m.version) : null,
    predicted: r.predictions[0] ? String(r.predictions[0].label) : null,
  });
}

/** Adds the "Wrong?" form under an answer once the server says it takes corrections (dropped if the answer changed). @param {Item} item @param {import('./feedback.js').Answer} a */
async function offerCorrection(item, a) {
  const gen = item.gen;
  if (!(await feedbackOn) || a.model === '') return;
  const form = await correctionForm(a, (err) => {
    if (err.status === 401) keys.ask(true);
  });
  if (form && gen === item.gen) item.fix.replaceChildren(form);
}

/** @param {Item} item @param {ApiError} err */
function fail(item, err) {
  item.ok = false;
  item.preds.replaceChildren();
  item.fix.replaceChildren();
  item.meta.textContent = '';
  item.error.textContent = err.message;
  item.retry.hidden = err.status === 401 || err.status === 400 || err.status === 413 || err.status === 415;
  setState(item, 'error');
  if (err.status === 401) keys.ask(true);
}

/** Classifies `list` with at most PARALLEL requests in flight, then sums up. @param {Item[]} list */
async function classifyAll(list) {
  if (list.length === 0 || !current()) return;
  say(`Classifying ${list.length} image${list.length === 1 ? '' : 's'}…`);
  let next = 0;
  const worker = async () => {
    while (next < list.length) await classifyOne(/** @type {Item} */ (list[next++]));
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, list.length) }, worker));
  const failed = items.filter((i) => i.card.dataset.state === 'error').length;
  const done = items.filter((i) => i.ok).length;
  const m = current();
  say(
    `${done} image${done === 1 ? '' : 's'} classified by ${m?.name ?? '?'}${failed ? `; ${failed} could not be` : ''}.`,
    failed > 0,
  );
}

/** @param {Iterable<File>} files */
function addFiles(files) {
  const added = [...files].map(addItem);
  clearBtn.disabled = items.length + added.length === 0;
  items = items.concat(added);
  return classifyAll(added);
}

filesInput.addEventListener('change', () => {
  const files = [...(filesInput.files ?? [])];
  filesInput.value = '';
  if (files.length) addFiles(files);
});
modelSel.addEventListener('change', () => {
  linkModel();
  classifyAll(items);
});
topSel.addEventListener('change', () => classifyAll(items.filter((i) => i.ok)));
clearBtn.addEventListener('click', () => {
  for (const i of items) {
    i.gen++;
    URL.revokeObjectURL(i.url);
  }
  items = [];
  results.replaceChildren();
  clearBtn.disabled = true;
  say('');
  filesInput.focus();
});

// Drop anywhere: the drop box lights up; a file dropped elsewhere must not make the browser open it instead.
let depth = 0;
document.addEventListener('dragenter', (e) => {
  if (!e.dataTransfer?.types.includes('Files')) return;
  depth++;
  drop.classList.add('over');
});
document.addEventListener('dragleave', () => {
  depth = Math.max(0, depth - 1);
  if (depth === 0) drop.classList.remove('over');
});
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  depth = 0;
  drop.classList.remove('over');
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length) addFiles(files);
});
document.addEventListener('paste', (e) => {
  const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith('image/'));
  if (files.length === 0) return;
  e.preventDefault();
  addFiles(files);
});

loadModels();
