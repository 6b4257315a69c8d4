// The one data plane under every protocol: model lookup (traffic splits included), the response cache, admission, per-request statistics and timing, metadata, statistics, repository control, infer and classify.
import { decodeImage } from '../../image/decode.js';
import { topK } from '../../model/predictions.js';
import { VERSION } from '../../util/version.js';
import type { Admission } from '../admission.js';
import type { ServerConfig } from '../config.js';
import { ServiceError, SHUTTING_DOWN_MESSAGE } from '../errors.js';
import type { RecentImages } from '../feedback/recent.js';
import { StageClock } from '../observe/stage-clock.js';
import type { Attrs, RequestTrace, Tracing } from '../observe/tracing.js';
import { type ImageContract, pixelsToInput } from '../repository/contract.js';
import type { ModelInstance } from '../repository/instance.js';
import { modelNotFound, type Repository } from '../repository/repository.js';
import type { InferenceStats } from '../stats.js';
import type { ResponseCache } from '../traffic/response-cache.js';
import { classifyKey, inferKey, keptResponse, responseBytes } from './cache-keys.js';
import { describeInstance, describeModel } from './describe-model.js';
import { modelConfig, modelMetadata, modelStats } from './model-views.js';
import { prepareCall, rowsAsked } from './tensor-request.js';
import { idBytesBound, inferResponse, responseBytesBound } from './tensor-response.js';
import type { InferRequest, InferResponse, ResponseWire } from './types.js';

/** A model and version as a request names them (undefined: the default model, the version policy's choice). */
export interface ModelRef {
  name?: string | undefined;
  version?: string | undefined;
  /**
   * The caller's routing key (X-Routing-Key, gRPC x-routing-key), read by each adapter. An inference naming no
   * version follows the model's traffic weights: at the key's stable point, or at random when it is null or absent.
   */
  routingKey?: string | null | undefined;
  /** The request's trace when it is sampled (set by each adapter from its server span); undefined: not traced. */
  trace?: RequestTrace | undefined;
  /** The request's log fields, filled in by the plane as an inference ends (each adapter's log line writes them). */
  log?: InferLogFields | undefined;
}

/** What a request's log line says about its inference: set here alone, for every protocol. */
export interface InferLogFields {
  model?: string;
  version?: number;
  /** Rows (images) the request ran. */
  batch?: number;
  /** Read, decode and convert time (ms). */
  inputMs?: number;
  /** Encode time (ms). */
  outputMs?: number;
}

/** Milliseconds as log lines write them (two decimals). */
const logMs = (ms: number): number => Math.round(ms * 100) / 100;

/** Fills a request's log fields: the version that served it, its rows, and (when it succeeded) its times. */
function logFields(log: InferLogFields, m: ModelInstance, times: Times, ok: boolean): void {
  log.model = m.name;
  log.version = m.version;
  if (times.rows > 0) log.batch = times.rows;
  if (!ok) return;
  log.inputMs = logMs(times.inputMs);
  log.outputMs = logMs(times.outputMs);
}

/** One image of a classify request, read but not decoded. */
export interface ImageUpload {
  filename: string | null;
  /** Names the image in error messages (null: "the image"). */
  name: string | null;
  bytes: Uint8Array;
}

/** Input (read, decode, convert) and output (encode) time and the rows of one request, for the statistics and log. */
interface Times {
  inputMs: number;
  outputMs: number;
  rows: number;
}

/** A tensor answer as the cache keeps it: without the request's id, and its size bound less the id's share. */
interface KeptAnswer {
  response: InferResponse;
  bound: number | null;
}

/** What the data plane works on: the part of the app's context below the adapters (context.ts holds the plane itself). */
export interface PlaneDeps {
  repo: Repository;
  config: ServerConfig;
  admission: Admission;
  stats: InferenceStats;
  cache: ResponseCache;
  /** Triton's trace settings live here; request spans come in on each ModelRef. */
  tracing: Tracing;
  /** closing: set when shutdown starts. */
  state: { readonly closing: boolean };
  /** Hears each successful inference request's stage timings (the stage histograms). */
  stages?: (model: string, version: number, clock: StageClock) => void;
  /** With feedback on: the images /classify saw recently, so that a correction may name one by its hash. */
  recent?: RecentImages | null;
}

export class DataPlane {
  constructor(private readonly ctx: PlaneDeps) {}

  live(): boolean {
    return true;
  }

  /** Why the server is not ready (shutting down, or models not READY under --readiness), or null when it is. */
  notReady(): string | null {
    if (this.ctx.state.closing) return SHUTTING_DOWN_MESSAGE;
    return this.ctx.repo.notReady(this.ctx.config.readiness);
  }

  get closing(): boolean {
    return this.ctx.state.closing;
  }

  /** Runs `fn` with the version `ref` names, leased until it settles; the catalogued 400/404/503 otherwise. */
  use<T>(ref: ModelRef, fn: (m: ModelInstance) => Promise<T>): Promise<T> {
    return this.ctx.repo.use(ref.name, ref.version, fn);
  }

  /** A model's versions with their states; MODEL_NOT_FOUND (the client's name bounded) when there is no such model. */
  versionsOf(name: string) {
    const versions = this.ctx.repo.versions(name);
    if (!versions) throw modelNotFound(name, this.ctx.repo.names);
    return versions;
  }

  /** Ready while the version serves and the service is not shutting down. */
  modelReady(ref: ModelRef): Promise<{ name: string; ready: boolean }> {
    return this.use(ref, async (m) => ({ name: m.name, ready: !this.ctx.state.closing }));
  }

  /** The server's name, version and the protocol extensions the asking adapter serves. */
  serverMetadata(extensions: readonly string[], version = VERSION) {
    return { name: 'onnx-mixer', version, extensions: [...extensions] };
  }

  modelMetadata(ref: ModelRef) {
    return this.use(ref, async (m) =>
      modelMetadata(
        m,
        this.versionsOf(m.name)
          .filter((v) => v.state === 'READY')
          .map((v) => String(v.version)),
      ),
    );
  }

  modelConfig(ref: ModelRef) {
    return this.use(ref, async (m) => modelConfig(m, this.ctx.config.batchDelayMs));
  }

  /** The default (or named) version as /v1/model and `mixer info` describe it. */
  describe(ref: ModelRef) {
    return this.use(ref, async (m) => describeInstance(m, this.ctx.config));
  }

  /** A model's versions and states and its latest ready version (GET /v1/models/{name}). */
  model(name: string) {
    return describeModel(name, this.versionsOf(name), this.ctx.repo.modelError(name), this.ctx.config);
  }

  /** Every model as `model` describes it, and the default model's name (GET /v1/models). */
  models() {
    return { default: this.ctx.repo.defaultName, models: this.ctx.repo.names.map((n) => this.model(n)) };
  }

  /** Statistics of every ready version (no name), of a model's ready versions, or of one version. */
  async statistics(name: string | undefined, version: string | undefined) {
    const { repo, stats } = this.ctx;
    if (name === undefined) {
      if (version !== undefined) throw new ServiceError('BAD_REQUEST', 'a version needs a model name');
      return {
        model_stats: repo
          .instances()
          .sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version)
          .map((m) => modelStats(stats, m.name, m.version)),
      };
    }
    if (version !== undefined)
      return this.use({ name, version }, async (m) => ({ model_stats: [modelStats(stats, m.name, m.version)] }));
    return {
      model_stats: this.versionsOf(name)
        .filter((v) => v.instance)
        .map((v) => modelStats(stats, name, v.version)),
    };
  }

  /** Every model version with its state; `readyOnly`: the READY ones. */
  repositoryIndex(readyOnly = false) {
    const rows = this.ctx.repo.index();
    return readyOnly ? rows.filter((r) => r.state === 'READY') : rows;
  }

  load(name: string): Promise<void> {
    return this.ctx.repo.load(name);
  }

  unload(name: string): Promise<void> {
    return this.ctx.repo.unload(name);
  }

  /** A model's traffic weights and the share of requests without a version each READY version gets now. */
  traffic(name: string) {
    return this.ctx.repo.traffic(name);
  }

  /** Sets a model's traffic weights (null: the latest READY version) until its config.json's "traffic" changes. */
  setTraffic(name: string, weights: unknown) {
    return this.ctx.repo.setTraffic(name, weights);
  }

  /** Triton's trace settings: the global ones, or a model's (its overrides over the global ones). */
  traceSetting(model?: string) {
    if (model !== undefined) this.versionsOf(model);
    return this.ctx.tracing.settings.get(model);
  }

  /** Changes Triton's trace settings (global, or a model's overrides) from a POST body; the next request uses them. */
  updateTraceSetting(body: unknown, model?: string) {
    if (model !== undefined) this.versionsOf(model);
    return this.ctx.tracing.settings.update(body, model);
  }

  /**
   * Runs an inference's `fn` on a leased version (chosen by the traffic weights when `ref` names none) and records
   * the request in the statistics (success with its times, or failure), in its log fields and, on success, in its
   * stage timings.
   */
  private tracked<T>(ref: ModelRef, fn: (m: ModelInstance, times: Times, clock: StageClock) => Promise<T>): Promise<T> {
    return this.ctx.repo.use(
      ref.name,
      ref.version,
      async (m) => {
        const t0 = performance.now();
        const times: Times = { inputMs: 0, outputMs: 0, rows: 0 };
        const clock = new StageClock(ref.trace);
        let ok = false;
        try {
          const r = await fn(m, times, clock);
          ok = true;
          this.ctx.stats.request(m.name, m.version, true, performance.now() - t0, times.inputMs, times.outputMs);
          clock.encodeMs = times.outputMs;
          this.ctx.stages?.(m.name, m.version, clock);
          return r;
        } catch (e) {
          this.ctx.stats.request(m.name, m.version, false, performance.now() - t0);
          throw e;
        } finally {
          if (ref.log) logFields(ref.log, m, times, ok);
        }
      },
      { key: ref.routingKey ?? null },
    );
  }

  /**
   * One tensor inference. `decode` turns the adapter's message into the neutral request (called once the model is
   * found). With the model's response cache on, an answer kept for the same request (every field but its id) is
   * encoded for this caller at once: no admission, no tensor conversion, no batcher. Otherwise the request's rows
   * are admitted whole (503 OVERLOADED when full) before its tensors are converted, then it runs on the model's
   * batcher and `wire` encodes the answer. The answer's size, before any compression, may not pass
   * MAX_RESPONSE_BYTES: checked from the graph's output shapes before inference (on a hit, from the kept bound), and
   * on the encoded answer after it. `owner` (an HTTP request handed a slot after parking) lets the admission take
   * over the slot it holds.
   */
  infer<T>(ref: ModelRef, decode: () => InferRequest, wire: ResponseWire<T>, owner?: object): Promise<T> {
    const { cache } = this.ctx;
    return this.tracked(ref, async (m, times, clock) => {
      const tr = clock.trace;
      tr?.model(m.name, m.version);
      clock.admissionWaitMs = this.ctx.admission.waitedMs(owner);
      const t0 = performance.now();
      const span = tr?.child('mixer.decode');
      let req: InferRequest;
      try {
        req = decode();
      } catch (e) {
        span?.end(e);
        throw e;
      }
      span?.set(decodedAttrs(req));
      span?.end();
      if (!cache.enabledFor(m))
        return this.encode(wire, (await this.run(m, req, times, t0, owner, clock)).response, times, tr);
      let encoded: T | undefined;
      const { value, hit } = await cache.answer(
        m,
        inferKey(req),
        async (): Promise<KeptAnswer> => {
          const done = await this.run(m, req, times, t0, owner, clock);
          encoded = this.encode(wire, done.response, times, tr);
          return { response: keptResponse(done.response), bound: done.bound };
        },
        (a) => responseBytes(a.response),
      );
      tr?.event(hit ? 'mixer.cache.hit' : 'mixer.cache.miss');
      if (!hit) return encoded as T;
      clock.cacheHit = true;
      times.inputMs = performance.now() - t0;
      const id = req.id;
      if (value.bound !== null) this.checkSize(value.bound + idBytesBound(id), 'could take up to');
      return this.encode(wire, { ...value.response, ...(id !== undefined ? { id } : {}) }, times, tr);
    });
  }

  /** RESPONSE_TOO_LARGE when `bytes` pass MAX_RESPONSE_BYTES. */
  private checkSize(bytes: number, when: string): void {
    const cap = this.ctx.config.maxResponseBytes;
    if (bytes > cap)
      throw new ServiceError(
        'RESPONSE_TOO_LARGE',
        `the requested outputs ${when} ${bytes} bytes, more than the ${cap} allowed (see MAX_RESPONSE_BYTES); ask for fewer rows or outputs, or binary outputs`,
      );
  }

  /** Admits, checks and runs a neutral request: its answer, and the answer's size bound less the id's share. */
  private async run(
    m: ModelInstance,
    req: InferRequest,
    times: Times,
    t0: number,
    owner: object | undefined,
    clock: StageClock,
  ): Promise<{ response: InferResponse; bound: number | null }> {
    const { admission, config } = this.ctx;
    const io = m.contract.io;
    const tr = clock.trace;
    const rows = rowsAsked(req, m.batchable);
    times.rows = rows;
    const release = traced(
      tr,
      'mixer.admission',
      () => admission.admit(rows, owner),
      () => ({ 'mixer.rows': rows }),
    );
    let call;
    let out;
    let bound;
    try {
      call = traced(
        tr,
        'mixer.convert',
        () => prepareCall(req, io.inputs, io.outputs, m.batchable, config.maxQueue),
        (c) => ({ 'mixer.rows': c.rows, 'mixer.output_bytes': c.payload.byteLength }),
      );
      times.inputMs = performance.now() - t0;
      clock.decodeMs = times.inputMs;
      // Checked before inference from the graph's output shapes; outputs with other dynamic dims are checked after it.
      bound = responseBytesBound(call, io.outputs, m.labels, m.name);
      if (bound !== null) this.checkSize(bound, 'could take up to');
      out = await m.infer(call.payload, call.rows, call.layout, clock).catch(graphRejected);
    } finally {
      release();
    }
    const t2 = performance.now();
    const c = call;
    const result = out;
    const response = traced(tr, 'mixer.output', () => inferResponse(c, result, io.outputs, m.labels, m));
    times.outputMs = performance.now() - t2;
    return { response, bound: bound === null ? null : bound - idBytesBound(call.id) };
  }

  /** `wire` encodes an answer, measured against MAX_RESPONSE_BYTES (its time is output time). */
  private encode<T>(wire: ResponseWire<T>, r: InferResponse, times: Times, tr: RequestTrace | undefined): T {
    const t2 = performance.now();
    const span = tr?.child('mixer.encode');
    let encoded: T;
    try {
      encoded = wire.encode(r);
      const bytes = wire.bytes(encoded);
      span?.set({ 'mixer.output_bytes': bytes });
      this.checkSize(bytes, 'take');
    } catch (e) {
      span?.end(e);
      throw e;
    }
    span?.end();
    times.outputMs += performance.now() - t2;
    return encoded;
  }

  /**
   * Classifies images with an image model: `read` collects the uploads (nothing is decoded before the whole request
   * is admitted); all are admitted together (or the request gets 503) and run as one batch item, so a request is
   * never half run and half refused. Top `top` predictions per image, in upload order. With the model's response
   * cache on, an answer kept for the same `top` and uploads is returned at once (no admission, decoding or batcher).
   * `chosen` hears the version that serves the request as soon as it is picked.
   */
  classify(
    ref: ModelRef,
    read: () => Promise<ImageUpload[]>,
    top: number,
    owner?: object,
    chosen?: (version: number) => void,
  ) {
    const { admission, cache } = this.ctx;
    return this.tracked(ref, async (m, times, clock) => {
      const tr = clock.trace;
      clock.admissionWaitMs = admission.waitedMs(owner);
      chosen?.(m.version);
      tr?.model(m.name, m.version);
      const t0 = performance.now();
      const c = m.contract.image;
      if (!c)
        throw new ServiceError(
          'NOT_AN_IMAGE_MODEL',
          `model "${m.name}" is not an image classifier: ${m.contract.notImage}; use POST /v2/models/${m.name}/infer`,
        );
      const readSpan = tr?.child('mixer.read');
      let uploads: ImageUpload[];
      try {
        uploads = await read();
      } catch (e) {
        readSpan?.end(e);
        throw e;
      }
      readSpan?.set({ 'mixer.images': uploads.length, 'mixer.input_bytes': uploadBytes(uploads) });
      readSpan?.end();
      times.rows = uploads.length;
      for (const u of uploads) this.ctx.recent?.remember(u.bytes);
      const run = async () => {
        const release = traced(
          tr,
          'mixer.admission',
          () => admission.admit(uploads.length, owner),
          () => ({ 'mixer.rows': uploads.length }),
        );
        let probs: Float32Array[];
        try {
          const td = performance.now();
          const span = tr?.child(
            'mixer.decode',
            {
              'mixer.format': 'image',
              'mixer.images': uploads.length,
              'mixer.input_bytes': uploadBytes(uploads),
            },
            td,
          );
          const decoded = await Promise.allSettled(uploads.map((u) => this.decodeUpload(u, c)));
          const failed = decoded.find((d) => d.status === 'rejected');
          if (failed) {
            span?.end(failed.reason);
            throw failed.reason;
          }
          const pixels = new Uint8Array(uploads.length * c.itemBytes);
          decoded.forEach((d, i) => pixels.set((d as PromiseFulfilledResult<Uint8Array>).value, i * c.itemBytes));
          span?.set({ 'mixer.output_bytes': pixels.byteLength });
          span?.end();
          times.inputMs = performance.now() - t0;
          clock.decodeMs = performance.now() - td;
          probs = await m.classify(pixels, uploads.length, clock);
        } finally {
          release();
        }
        const t1 = performance.now();
        const encode = tr?.child('mixer.encode', { 'mixer.top': top });
        const results = uploads.map((u, i) => ({ filename: u.filename, predictions: topK(probs[i]!, m.labels, top) }));
        encode?.end();
        times.outputMs = performance.now() - t1;
        return { model: { name: m.name, version: String(m.version), sha256: m.sha256 }, results };
      };
      if (!cache.enabledFor(m)) return run();
      const { value, hit } = await cache.answer(m, classifyKey(top, c, uploads), run, (v) =>
        Buffer.byteLength(JSON.stringify(v), 'utf8'),
      );
      clock.cacheHit = hit;
      tr?.event(hit ? 'mixer.cache.hit' : 'mixer.cache.miss');
      return value;
    });
  }

  /** One upload through the image model's decoder, contract and MAX_PIXELS: the model's input bytes (classify's path). */
  private decodeUpload(u: ImageUpload, c: ImageContract): Promise<Uint8Array> {
    const opts = { maxPixels: this.ctx.config.maxPixels, ...(u.name ? { name: u.name } : {}) };
    return decodeImage(u.bytes, c, opts).then((px) => pixelsToInput(px, c));
  }

  /**
   * Checks an image for a model as classify would, without inferring: the version `ref` names (the catalogued
   * 400/404/503 otherwise), then `check` on it (e.g. a label among its labels), then the image through classify's
   * decoder (admitted as one image: 503 OVERLOADED when full). The version's name, number and labels.
   */
  vetImage(ref: ModelRef, upload: ImageUpload, check: (m: ModelInstance) => void) {
    return this.use(ref, async (m) => {
      check(m);
      const c = m.contract.image;
      if (!c)
        throw new ServiceError(
          'NOT_AN_IMAGE_MODEL',
          `model "${m.name}" is not an image classifier: ${m.contract.notImage}`,
        );
      const release = this.ctx.admission.admit(1);
      try {
        await this.decodeUpload(upload, c);
      } finally {
        release();
      }
      return { name: m.name, version: m.version, labels: m.labels };
    });
  }
}

/** Runs `fn` inside a child span of `tr` named `name` (none when the request is not traced), with `attrs` of its result; a throw ends it as an error. */
function traced<R>(tr: RequestTrace | undefined, name: string, fn: () => R, attrs?: (r: R) => Attrs): R {
  if (!tr) return fn();
  const span = tr.child(name);
  try {
    const r = fn();
    if (attrs) span.set(attrs(r));
    span.end();
    return r;
  } catch (e) {
    span.end(e);
    throw e;
  }
}

/** What a decoded tensor request holds: its input format (raw bytes or listed values), inputs and rows of raw bytes. */
function decodedAttrs(req: InferRequest) {
  let bytes = 0;
  let binary = false;
  for (const i of req.inputs ?? []) {
    if (i.data instanceof Uint8Array) {
      binary = true;
      bytes += i.data.byteLength;
    }
  }
  return {
    'mixer.format': binary ? 'binary' : 'values',
    'mixer.inputs': req.inputs?.length ?? 0,
    ...(binary ? { 'mixer.input_bytes': bytes } : {}),
  };
}

const uploadBytes = (uploads: readonly ImageUpload[]): number => uploads.reduce((a, u) => a + u.bytes.byteLength, 0);

/** The graph's own shape and value checks (symbolic dims that disagree, out-of-range indices) are the caller's input. */
function graphRejected(e: unknown): never {
  if ((e as { code?: string }).code === 'RUN_FAILED')
    throw new ServiceError(
      'BAD_TENSOR',
      `onnxruntime rejected the inputs: ${(e as Error).message
        .replace(/^inference failed: /, '')
        .split('\n')[0]!
        .slice(0, 300)}`,
    );
  throw e;
}
