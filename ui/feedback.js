// The page's "Wrong? Choose the right label" control: offered when the server takes corrections (GET /v1/feedback); sends the image's sha256 (or the image) to POST /v1/feedback.
import { ApiError, errorOf, getJson, request } from './api.js';

/** Whether the server takes corrections from this page (its key), and whether it keeps classified images by hash. */
let feedback = { on: false, byHash: false };

/** Asks the server (at start, and again once a key is entered). Off, forbidden or unreachable: no control is offered. */
export async function probeFeedback() {
  try {
    const res = await request('/v1/feedback');
    const body = res.ok ? await res.json() : null;
    feedback = { on: body?.enabled === true, byHash: body?.byHash === true };
  } catch {
    feedback = { on: false, byHash: false };
  }
  return feedback.on;
}

/** @type {Map<string, Promise<string[]>>} A model version's labels, asked once. */
const labelLists = new Map();

/** @param {string} name @param {string | null} version @returns {Promise<string[]>} */
function labelsOf(name, version) {
  const q = new URLSearchParams({ model: name });
  if (version !== null) q.set('version', version);
  const key = q.toString();
  let p = labelLists.get(key);
  if (!p) {
    p = getJson(`/v1/model?${key}`).then((m) => (Array.isArray(m.labels) ? m.labels.map(String) : []));
    // A failure is not kept: the next answer asks again.
    p.catch(() => labelLists.delete(key));
    labelLists.set(key, p);
  }
  return p;
}

/** Lower-case hex sha256 of a file, or null where the browser has no SubtleCrypto (pages served over plain HTTP). @param {Blob} file */
async function sha256Of(file) {
  if (!globalThis.crypto?.subtle) return null;
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * @typedef {{ file: File, model: string, version: string | null, predicted: string | null }} Answer
 */

/**
 * POSTs a correction: by hash when the server keeps classified images, and with the image when it no longer has it.
 * @param {Answer} a @param {string} label @returns {Promise<void>}
 */
async function send(a, label) {
  const hash = feedback.byHash ? await sha256Of(a.file) : null;
  for (const withImage of hash === null ? [true] : [false, true]) {
    const form = new FormData();
    form.append('model', a.model);
    if (a.version !== null) form.append('version', a.version);
    if (a.predicted !== null) form.append('predicted', a.predicted);
    form.append('label', label);
    if (withImage) form.append('image', a.file, a.file.name || 'pasted.png');
    else form.append('sha256', /** @type {string} */ (hash));
    const res = await request('/v1/feedback', { method: 'POST', body: form });
    if (res.ok) return;
    const err = await errorOf(res);
    if (!withImage && err.code === 'IMAGE_NOT_RECENT') continue;
    throw err;
  }
}

let forms = 0;

/** @param {string} tag @param {string} [cls] @param {string} [text] */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * The correction form for one answer (null when the server takes none or the labels are unknown): a labelled select
 * of the model's labels and a button; the outcome is announced in a live region. `onError` hears refusals (a 401
 * asks for the key).
 * @param {Answer} a @param {(err: ApiError) => void} onError @returns {Promise<HTMLFormElement | null>}
 */
export async function correctionForm(a, onError) {
  if (!feedback.on) return null;
  let labels;
  try {
    labels = await labelsOf(a.model, a.version);
  } catch {
    return null;
  }
  if (labels.length === 0) return null;
  const id = `fix-${++forms}`;
  const form = /** @type {HTMLFormElement} */ (el('form', 'fix'));
  const label = /** @type {HTMLLabelElement} */ (el('label', '', 'Wrong? Choose the right label'));
  label.htmlFor = id;
  const select = /** @type {HTMLSelectElement} */ (el('select'));
  select.id = id;
  select.name = 'label';
  const none = /** @type {HTMLOptionElement} */ (el('option', '', 'choose…'));
  none.value = '';
  select.append(
    none,
    ...labels.map((l) => {
      const o = /** @type {HTMLOptionElement} */ (el('option', '', l));
      o.value = l;
      return o;
    }),
  );
  const button = /** @type {HTMLButtonElement} */ (el('button', '', 'Send correction'));
  button.type = 'submit';
  const status = el('p', 'fix-status');
  status.id = `${id}-status`;
  status.setAttribute('role', 'status');
  status.setAttribute('aria-live', 'polite');
  select.setAttribute('aria-describedby', status.id);
  form.append(label, select, button, status);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const chosen = select.value;
    status.classList.remove('error');
    if (chosen === '') {
      status.textContent = 'Choose the right label first.';
      select.focus();
      return;
    }
    button.disabled = true;
    status.textContent = 'Sending…';
    try {
      await send(a, chosen);
      status.textContent = `Saved: “${chosen}”. Thank you.`;
      form.dataset.sent = chosen;
    } catch (e) {
      const err =
        e instanceof ApiError ? e : new ApiError(`Unexpected answer: ${/** @type {Error} */ (e).message}`, 0, 'CLIENT');
      status.textContent = err.message;
      status.classList.add('error');
      onError(err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
