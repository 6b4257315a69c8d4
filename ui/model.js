// The model page: what GET /v1/model?model=&version= says about one model version, and its training report when one ships beside it.
import { ApiError, errorOf, getJson, keyForm, request } from './api.js';
import { renderMarkdown } from './markdown.js';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const params = new URLSearchParams(location.search);
const wanted = params.get('model');
const wantedVersion = params.get('version');
const status = $('status');

/** Object URLs of report images, released on reload. @type {string[]} */
let blobs = [];

const keys = keyForm(/** @type {HTMLFormElement} */ ($('key-form')), () => load());

/** @param {string} text @param {boolean} [error] */
function say(text, error = false) {
  status.textContent = text;
  status.classList.toggle('error', error);
}

/** Fills a <dl> with [term, value] rows (values as text; null rows are left out). @param {string} id @param {Array<[string, unknown]>} rows */
function kv(id, rows) {
  const dl = $(id);
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = typeof v === 'string' ? v : JSON.stringify(v);
    dl.append(dt, dd);
  }
}

/** @param {unknown} n */
const int = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : null);

/** 152300000 → "152.3 M" (a bare number gets a trailing space, so "FLOP" can follow either). @param {number} n */
function si(n) {
  for (const [d, s] of /** @type {Array<[number, string]>} */ ([
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]))
    if (n >= d) return `${(n / d).toFixed(1)} ${s}`;
  return `${n} `;
}

/** @param {any} t */
const tensor = (t) =>
  t && typeof t === 'object'
    ? `${t.name ?? '?'}: ${t.datatype ?? t.dtype ?? '?'} [${(t.shape ?? []).join(', ')}]${t.layout ? ` ${t.layout}` : ''}`
    : null;

/** The description of the wanted model version: /v1/model?model=&version= (the default model when none is named). */
async function describe() {
  if (wanted === null) return getJson('/v1/model');
  const q = new URLSearchParams({ model: wanted });
  if (wantedVersion !== null) q.set('version', wantedVersion);
  return getJson(`/v1/model?${q}`);
}

/** @param {any} m */
function show(m) {
  const title = `${m.name}${m.version != null ? ` v${m.version}` : ''}`;
  $('title').textContent = title;
  document.title = `onnx-mixer · ${title}`;
  const flops =
    typeof m.flops === 'number'
      ? m.flops
      : typeof m.flopsPerImage === 'number'
        ? m.flopsPerImage
        : typeof m.macsPerImage === 'number'
          ? 2 * m.macsPerImage
          : null;
  const b = m.batching;
  kv('summary', [
    ['Name', m.name],
    ['Version', m.version != null ? String(m.version) : null],
    ['State', m.state ?? null],
    ['Parameters', int(m.parameters)],
    [
      'FLOPs per image',
      flops !== null
        ? `${si(flops)}FLOP${typeof m.macsPerImage === 'number' ? ` (${si(m.macsPerImage)} multiply-adds)` : ''}`
        : null,
    ],
    ['File size', typeof m.fileBytes === 'number' ? `${int(m.fileBytes)} bytes` : null],
    ['SHA-256', m.sha256],
    ['Execution provider', m.provider],
    ['ONNX opset', m.opset != null ? String(m.opset) : null],
    [
      'Batching',
      b
        ? `up to ${b.maxBatch} images per run, waits ≤ ${b.batchDelayMs} ms, queue ${b.maxQueue}, ${b.workers} worker(s) × ${b.threads} thread(s)`
        : null,
    ],
  ]);
  const c = m.config && typeof m.config === 'object' ? m.config : null;
  const inputs = Array.isArray(m.inputs) ? m.inputs : m.input ? [m.input] : [];
  // onnx-mixer models have two outputs by contract (logits and their softmax); other models say what they have.
  const outputs = Array.isArray(m.outputs)
    ? m.outputs
    : c && typeof c.num_classes === 'number'
      ? ['logits', 'probabilities'].map((name) => ({ name, datatype: 'float32', shape: [-1, c.num_classes] }))
      : [];
  kv('io', [
    ...inputs.map(
      (/** @type {any} */ t, /** @type {number} */ i) =>
        /** @type {[string, unknown]} */ ([`Input ${i + 1}`, tensor(t)]),
    ),
    ...outputs.map(
      (/** @type {any} */ t, /** @type {number} */ i) =>
        /** @type {[string, unknown]} */ ([`Output ${i + 1}`, tensor(t)]),
    ),
    [
      'Input size',
      typeof m.inputSize === 'number'
        ? `${m.inputSize}×${m.inputSize} px`
        : Array.isArray(m.inputSize)
          ? `${m.inputSize.join('×')} px`
          : null,
    ],
    ['Mean (RGB, 0–1)', Array.isArray(m.mean) ? m.mean.join(', ') : null],
    ['Std (RGB, 0–1)', Array.isArray(m.std) ? m.std.join(', ') : null],
  ]);
  // The graph's own config (onnx-mixer models) and the model folder's config.json as applied, key by key.
  const file = m.configFile && typeof m.configFile === 'object' ? Object.entries(m.configFile) : [];
  const rows = [
    ...(c ? Object.entries(c) : []),
    ...file.map(([k, v]) => /** @type {[string, unknown]} */ ([`config.json: ${k}`, v])),
  ];
  kv('config', rows.length > 0 ? rows : [['Configuration', 'none given']]);
  const labels = Array.isArray(m.labels) ? m.labels : [];
  $('labels').replaceChildren(
    ...labels.map((/** @type {unknown} */ l) =>
      Object.assign(document.createElement('li'), { textContent: String(l) }),
    ),
  );
  $('h-labels').textContent = `Labels (${labels.length})`;
}

/** The report's query: the model and version asked for, if any. */
function reportQuery() {
  const q = new URLSearchParams();
  if (wanted !== null) q.set('model', wanted);
  if (wantedVersion !== null) q.set('version', wantedVersion);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A report file's response (null when the model ships none). @param {string} file */
async function reportFile(file) {
  const res = await request(`/ui/model/report/${encodeURIComponent(file)}${reportQuery()}`);
  if (res.status === 404) return null;
  if (!res.ok) throw await errorOf(res);
  return res;
}

/** An <img> whose bytes are fetched with the API key and shown from a blob: URL. @param {string} src @param {string} alt */
function reportImage(src, alt) {
  const img = document.createElement('img');
  img.alt = alt;
  if (!/^[\w.-]+$/.test(src)) {
    return Object.assign(document.createElement('span'), { textContent: `[${alt}]` });
  }
  reportFile(src).then(
    async (res) => {
      if (!res) {
        img.alt = `${alt} (missing)`;
        return;
      }
      const url = URL.createObjectURL(await res.blob());
      blobs.push(url);
      img.src = url;
    },
    () => {
      img.alt = `${alt} (could not be loaded)`;
    },
  );
  return img;
}

async function showReport() {
  const box = $('report');
  const md = await reportFile('report.md');
  if (md) {
    const doc = renderMarkdown(await md.text(), { image: reportImage, headingShift: 1 });
    // The section is already headed "Training report": a report's own title of the same words is left out.
    const first = doc.firstElementChild;
    if (first?.tagName === 'H2' && /^training report$/i.test(first.textContent?.trim() ?? '')) first.remove();
    box.replaceChildren(doc);
    return;
  }
  const plot = await reportFile('training.svg');
  if (plot) box.replaceChildren(reportImage('training.svg', 'training curves: loss and accuracy per epoch'));
  else
    box.replaceChildren(
      Object.assign(document.createElement('p'), { textContent: 'No training report ships beside this model.' }),
    );
}

async function load() {
  for (const u of blobs) URL.revokeObjectURL(u);
  blobs = [];
  say('loading…');
  try {
    show(await describe());
    await showReport();
    say('');
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError(String(/** @type {Error} */ (e).message), 0, 'CLIENT');
    say(err.message, true);
    if (err.status === 401) keys.ask(true);
  }
}

load();
