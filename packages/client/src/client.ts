// The typed HTTP client of onnx-mixer (and of any Open Inference Protocol v2 server for infer/ready): built-in fetch, API key, timeout, retries (503 with Retry-After, failed connections).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CodedError } from './errors.js';
import {
  concat,
  type Datatype,
  datatypeOf,
  decodeTensor,
  fromJson,
  type OutputTensor,
  type Tensor,
  type TensorData,
  tensorBytes,
} from './tensors.js';

export interface ClientOptions {
  /** The server, e.g. http://localhost:3000 (default). */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Per attempt, in ms (default 30000). */
  timeoutMs?: number;
  /**
   * Extra attempts (default 2) after a 503 that carries Retry-After (overloaded, loading, shutting down), each after it,
   * or after a failed connection (after 250 ms, doubling). A 503 without Retry-After (a model that failed to load) is
   * final, as is a timeout.
   */
  retries?: number;
  /** Longest wait honoured from one Retry-After, in ms (default 10000). */
  maxRetryDelayMs?: number;
}

/** A file path, the file's bytes, or a Blob (a File keeps its name). */
export type ImageInput = string | Uint8Array | Blob;

export interface ClassifyOptions {
  top?: number;
  model?: string;
  version?: string | number;
}

export interface Prediction {
  label: string;
  index: number;
  probability: number;
}

export interface ClassifyResult {
  model: { name: string; version: string; sha256: string };
  results: { filename: string | null; predictions: Prediction[] }[];
}

export interface InferOptions {
  version?: string | number;
  /** Outputs to return (default: all); a number asks for the top-k classification of that output. */
  outputs?: (string | { name: string; classification: number })[];
  id?: string;
}

export interface InferResult {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: Record<string, OutputTensor>;
}

export interface ModelVersionState {
  version: string;
  state: 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';
  reason: string;
}

export interface ModelsResult {
  default: string | null;
  models: {
    name: string;
    reason: string | null;
    versions: ModelVersionState[];
    latest: Record<string, unknown> | null;
  }[];
}

/** A correction: the image (or the sha256 of one the server classified recently), the model and the right label. */
export interface FeedbackInput {
  /** The image, as for classify; or give `sha256` instead. */
  image?: ImageInput;
  /** The sha256 (hex) of an image POST /classify received recently (the server keeps them in memory, bounded). */
  sha256?: string;
  /** Default: the server's default model. */
  model?: string;
  /** The right label: one of the model's labels. */
  label: string;
  /** The version that answered. */
  version?: string | number;
  /** The label it answered. */
  predicted?: string;
}

export interface FeedbackResult {
  /** The correction's id (its line in the store's feedback.jsonl). */
  id: string;
  /** The image's sha256 (hex). */
  sha256: string;
}

export interface FeedbackCounts {
  model: string;
  /** Images stored for the model, each counted once under its latest label. */
  total: number;
  /** Bytes of its images and history. */
  bytes: number;
  /** Images per label: every label of the model (0 included), then any other label folder. */
  labels: Record<string, number>;
}

/** An error answer (with the server's code and message), a timeout (TIMEOUT) or a failed connection (NETWORK). */
export class MixerError extends CodedError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly requestId: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  /** A 4xx answer: the request was at fault. */
  override get userFault(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retry-After (seconds or an HTTP date) → ms. */
function retryAfterMs(h: string | null): number {
  if (!h) return 1000;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const d = Date.parse(h);
  return Number.isNaN(d) ? 1000 : Math.max(0, d - Date.now());
}

export class Client {
  readonly baseUrl: string;
  private readonly o: Required<Omit<ClientOptions, 'apiKey' | 'baseUrl'>> & { apiKey: string | null };

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? 'http://localhost:3000').replace(/\/+$/, '');
    this.o = {
      apiKey: options.apiKey ?? null,
      timeoutMs: options.timeoutMs ?? 30_000,
      retries: options.retries ?? 2,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 10_000,
    };
  }

  /** One request with timeout and retries (503 with Retry-After, failed connections); error answers become MixerError. */
  private async request(
    pathAndQuery: string,
    init: { method: string; headers?: Record<string, string>; body?: RequestInit['body'] },
    okStatuses: number[] = [],
  ): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.o.apiKey !== null) headers['authorization'] = `Bearer ${this.o.apiKey}`;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(this.baseUrl + pathAndQuery, {
          method: init.method,
          headers,
          ...(init.body !== undefined ? { body: init.body } : {}),
          signal: AbortSignal.timeout(this.o.timeoutMs),
        });
      } catch (e) {
        const err = e as Error;
        const timeout = err.name === 'TimeoutError' || err.name === 'AbortError';
        if (!timeout && attempt < this.o.retries) {
          await sleep(Math.min(250 * 2 ** attempt, this.o.maxRetryDelayMs));
          continue;
        }
        if (timeout)
          throw new MixerError(
            0,
            'TIMEOUT',
            `${init.method} ${pathAndQuery}: no answer within ${this.o.timeoutMs} ms`,
            null,
            {
              cause: err,
            },
          );
        throw new MixerError(
          0,
          'NETWORK',
          `${init.method} ${pathAndQuery}: ${(err.cause as Error | undefined)?.message ?? err.message}`,
          null,
          { cause: err },
        );
      }
      if (res.ok || okStatuses.includes(res.status)) return res;
      const retryAfter = res.headers.get('retry-after');
      if (res.status === 503 && retryAfter !== null && attempt < this.o.retries) {
        await res.body?.cancel();
        await sleep(Math.min(retryAfterMs(retryAfter), this.o.maxRetryDelayMs));
        continue;
      }
      throw await errorOf(res);
    }
  }

  private async json<T>(
    pathAndQuery: string,
    init: { method: string; headers?: Record<string, string>; body?: RequestInit['body'] } = { method: 'GET' },
  ): Promise<T> {
    const res = await this.request(pathAndQuery, { ...init, headers: { accept: 'application/json', ...init.headers } });
    return (await res.json()) as T;
  }

  /** Classifies one or more images with POST /classify (multipart); results in the order given. */
  async classify(images: ImageInput | ImageInput[], options: ClassifyOptions = {}): Promise<ClassifyResult> {
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 0) throw new TypeError('classify needs at least one image');
    const form = new FormData();
    for (const [i, img] of list.entries()) {
      if (typeof img === 'string') form.append('image', new Blob([await readFile(img)]), path.basename(img));
      else if (img instanceof Blob)
        form.append('image', img, (img as Blob & { name?: string }).name ?? `image-${i + 1}`);
      else if (img instanceof Uint8Array) form.append('image', new Blob([img]), `image-${i + 1}`);
      else throw new TypeError('an image is a file path, a Buffer/Uint8Array or a Blob');
    }
    const q = new URLSearchParams();
    if (options.top !== undefined) q.set('top', String(options.top));
    if (options.model !== undefined) q.set('model', options.model);
    if (options.version !== undefined) q.set('version', String(options.version));
    const qs = q.size > 0 ? `?${q}` : '';
    return this.json<ClassifyResult>(`/classify${qs}`, { method: 'POST', body: form });
  }

  /** Runs a model on named tensors with the v2 binary tensor extension; outputs come back as typed arrays. */
  async infer(
    model: string,
    tensors: Record<string, Tensor | TensorData>,
    options: InferOptions = {},
  ): Promise<InferResult> {
    const inputs: object[] = [];
    const bins: Uint8Array[] = [];
    for (const [name, t] of Object.entries(tensors)) {
      const tensor: Tensor =
        ArrayBuffer.isView(t) || Array.isArray(t)
          ? { data: t as TensorData, shape: [(t as TensorData).length] }
          : (t as Tensor);
      const datatype = tensor.datatype ?? datatypeOf(tensor.data);
      const bytes = tensorBytes(tensor.data);
      inputs.push({ name, shape: tensor.shape, datatype, parameters: { binary_data_size: bytes.length } });
      bins.push(bytes);
    }
    const outputs = options.outputs?.map((o) =>
      typeof o === 'string'
        ? { name: o, parameters: { binary_data: true } }
        : { name: o.name, parameters: { binary_data: true, classification: o.classification } },
    );
    const header = new TextEncoder().encode(
      JSON.stringify({
        ...(options.id !== undefined ? { id: options.id } : {}),
        inputs,
        ...(outputs ? { outputs } : {}),
        parameters: { binary_data_output: true },
      }),
    );
    const url = `/v2/models/${encodeURIComponent(model)}${options.version !== undefined ? `/versions/${encodeURIComponent(String(options.version))}` : ''}/infer`;
    const res = await this.request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
        accept: 'application/octet-stream, application/json',
      },
      body: concat([header, ...bins]),
    });
    const raw = new Uint8Array(await res.arrayBuffer());
    const len = res.headers.get('inference-header-content-length');
    const jsonEnd = len === null ? raw.length : Number(len);
    const json = JSON.parse(new TextDecoder().decode(raw.subarray(0, jsonEnd))) as {
      model_name: string;
      model_version: string;
      id?: string;
      outputs: {
        name: string;
        datatype: Datatype;
        shape: number[];
        parameters?: { binary_data_size?: number };
        data?: unknown[];
      }[];
    };
    let off = jsonEnd;
    const out: Record<string, OutputTensor> = {};
    for (const o of json.outputs) {
      const size = o.parameters?.binary_data_size;
      let data: TensorData;
      if (size !== undefined) {
        data = decodeTensor(o.datatype, raw.subarray(off, off + size));
        off += size;
      } else data = fromJson(o.datatype, o.data ?? []);
      out[o.name] = { name: o.name, datatype: o.datatype, shape: o.shape, data };
    }
    return {
      model_name: json.model_name,
      model_version: json.model_version,
      ...(json.id !== undefined ? { id: json.id } : {}),
      outputs: out,
    };
  }

  /** Whether the server (or one model) is ready; false on 503, an error for anything else. */
  async ready(model?: string): Promise<boolean> {
    const url = model === undefined ? '/v2/health/ready' : `/v2/models/${encodeURIComponent(model)}/ready`;
    const res = await this.request(url, { method: 'GET' }, [503]);
    await res.body?.cancel();
    return res.status === 200;
  }

  /**
   * Sends a correction (POST /v1/feedback; the server needs --feedback-dir, the key the `feedback` scope): the image
   * or its `sha256`, the model and the right label.
   */
  async feedback(input: FeedbackInput): Promise<FeedbackResult> {
    if ((input.image === undefined) === (input.sha256 === undefined))
      throw new TypeError('feedback takes either an image or the sha256 of one');
    const form = new FormData();
    if (input.model !== undefined) form.append('model', input.model);
    form.append('label', input.label);
    if (input.version !== undefined) form.append('version', String(input.version));
    if (input.predicted !== undefined) form.append('predicted', input.predicted);
    if (input.sha256 !== undefined) form.append('sha256', input.sha256);
    const img = input.image;
    if (typeof img === 'string') form.append('image', new Blob([await readFile(img)]), path.basename(img));
    else if (img instanceof Blob) form.append('image', img, (img as Blob & { name?: string }).name ?? 'image');
    else if (img instanceof Uint8Array) form.append('image', new Blob([img]), 'image');
    else if (img !== undefined) throw new TypeError('an image is a file path, a Buffer/Uint8Array or a Blob');
    return this.json<FeedbackResult>('/v1/feedback', { method: 'POST', body: form });
  }

  /** A model's stored corrections per label (GET /v1/feedback/{model}; the key needs the `admin` scope). */
  feedbackCounts(model: string): Promise<FeedbackCounts> {
    return this.json<FeedbackCounts>(`/v1/feedback/${encodeURIComponent(model)}`);
  }

  /** Every model with its versions and their states (GET /v1/models). */
  models(): Promise<ModelsResult> {
    return this.json<ModelsResult>('/v1/models');
  }
}

async function errorOf(res: Response): Promise<MixerError> {
  const text = await res.text().catch(() => '');
  let code = `HTTP_${res.status}`;
  let message = text.slice(0, 500) || res.statusText;
  try {
    const j = JSON.parse(text) as { code?: unknown; message?: unknown; error?: unknown };
    if (typeof j.code === 'string') code = j.code;
    if (typeof j.message === 'string') message = j.message;
    else if (typeof j.error === 'string') message = j.error;
  } catch {
    // not JSON: the text is the message
  }
  return new MixerError(res.status, code, message, res.headers.get('x-request-id'));
}
