// The page's client of the service API: API key (memory only), readable errors, the model list (repository or single model).

/** @type {string | null} The API key, only ever in this variable: never stored, never in a URL. */
let apiKey = null;

/** Thrown for any failed request; `message` is written for people. */
export class ApiError extends Error {
  /** @param {string} message @param {number} status @param {string} code @param {number | null} retryAfter */
  constructor(message, status, code, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * fetch() to this origin with the key when one is set. Network failures become ApiError status 0.
 * @param {string} path @param {RequestInit} [init] @returns {Promise<Response>}
 */
export async function request(path, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  if (apiKey !== null) headers.set('authorization', `Bearer ${apiKey}`);
  try {
    return await fetch(path, { ...init, headers, cache: 'no-store' });
  } catch {
    throw new ApiError(
      'The connection to the server failed or was closed before an answer came. If the file is large, the server may have refused it while it was being sent.',
      0,
      'NETWORK',
    );
  }
}

/** A readable sentence for an error answer. @param {Response} res @returns {Promise<ApiError>} */
export async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's page, say): the status alone is described
  }
  const server = body && typeof body.message === 'string' ? body.message : '';
  const code = body && typeof body.code === 'string' ? body.code : '';
  const ra = Number(res.headers.get('retry-after'));
  const retryAfter = Number.isFinite(ra) && ra >= 0 && res.headers.has('retry-after') ? ra : null;
  const why = server ? `: ${server}` : '';
  /** @type {Record<number, string>} */
  const lead = {
    400: 'The server could not use this file',
    401: 'This server needs an API key',
    404: 'Not found',
    406: 'The server cannot answer in JSON',
    413: 'Too large for this server',
    415: 'Unsupported file type',
    429: 'Too many requests',
    // A 503 without Retry-After is not a passing state (a model that failed to load, or was unloaded).
    503: retryAfter !== null ? 'The server is busy' : 'Not available',
  };
  let msg = `${lead[res.status] ?? `The server answered ${res.status} ${res.statusText}`}${why}`;
  if (!/[.!?]$/.test(msg)) msg += '.';
  if (res.status === 503 && retryAfter !== null) msg += ` It asks to retry after ${retryAfter} s.`;
  if (res.status === 401 && apiKey !== null) msg = `The API key was not accepted${why}${/[.!?]$/.test(why) ? '' : '.'}`;
  return new ApiError(msg, res.status, code, retryAfter);
}

/** GET a JSON document; throws ApiError (401 shows the key form). @param {string} path */
export async function getJson(path) {
  const res = await request(path);
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

/**
 * Wires the key form: shown on 401, hidden until then; `onKey` runs after a key is entered.
 * @param {HTMLFormElement} form @param {() => void} onKey
 */
export function keyForm(form, onKey) {
  const input = /** @type {HTMLInputElement} */ (form.elements.namedItem('key'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v === '') return;
    apiKey = v;
    input.value = '';
    input.placeholder = 'key set (memory only)';
    onKey();
  });
  return {
    /** Shows the form and moves focus to it (when the error came from a user's action). @param {boolean} focus */
    ask(focus) {
      const first = form.hidden;
      form.hidden = false;
      if (focus || first) input.focus();
    },
  };
}

/**
 * @typedef {{ name: string, version: string | null, inputSize: string, labels: number | null, fromRepository: boolean }} ModelChoice
 */

/** "32×32" from 32, [32, 32] or {height, width}. @param {unknown} s */
function sizeText(s) {
  if (typeof s === 'number') return `${s}×${s}`;
  if (Array.isArray(s) && s.length >= 2) return `${s[0]}×${s[1]}`;
  if (s && typeof s === 'object' && 'height' in s && 'width' in s) return `${s.height}×${s.width}`;
  return '?';
}

/** @param {unknown} l */
function labelCount(l) {
  if (Array.isArray(l)) return l.length;
  if (typeof l === 'number') return l;
  return null;
}

const READY = new Set(['READY', 'AVAILABLE', 'LOADED']);

/**
 * Every ready model and version: `GET /v1/models` (a repository), or `GET /v1/model` where that route is absent (404).
 * @returns {Promise<ModelChoice[]>}
 */
export async function listModels() {
  const res = await request('/v1/models');
  if (res.status === 404) {
    const m = await getJson('/v1/model');
    return [
      {
        name: String(m.name),
        version: m.version != null ? String(m.version) : null,
        inputSize: sizeText(m.inputSize ?? m.size),
        labels: labelCount(m.labels),
        fromRepository: false,
      },
    ];
  }
  if (!res.ok) throw await errorOf(res);
  const body = await res.json();
  const list = Array.isArray(body) ? body : Array.isArray(body.models) ? body.models : [];
  /** @type {ModelChoice[]} */
  const out = [];
  for (const m of list) {
    const versions = Array.isArray(m.versions) ? m.versions : [m];
    for (const v of versions) {
      const state = String(v.state ?? m.state ?? 'READY').toUpperCase();
      if (!READY.has(state)) continue;
      // Models without an image input are served over v2 only: /classify would refuse them.
      if (v.classifier === false) continue;
      const version = typeof v === 'object' && v.version != null ? String(v.version) : null;
      out.push({
        name: String(m.name),
        version,
        inputSize: sizeText(v.inputSize ?? m.inputSize ?? v.size ?? m.size),
        labels: labelCount(v.labels ?? v.classes ?? m.labels ?? v.numClasses ?? m.numClasses),
        fromRepository: true,
      });
    }
  }
  return out;
}

/** The query that names a model choice (empty for a server without a repository). @param {ModelChoice} m */
export function modelQuery(m) {
  const q = new URLSearchParams();
  if (m.fromRepository) {
    q.set('model', m.name);
    if (m.version !== null) q.set('version', m.version);
  }
  return q;
}
