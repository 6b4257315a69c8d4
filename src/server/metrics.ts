// Prometheus metrics (prom-client) on a per-app registry: HTTP traffic, queue, batches, inference and process stats.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { FastCounter as Counter, FastHistogram as Histogram } from './observe/series.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Stage buckets span 100 µs to 10 s: decoding a small image, converting a tensor or encoding top-k answers take tens
 * to hundreds of microseconds, so the 1 ms floor of LATENCY_BUCKETS would put them all in one bucket; a model run is
 * milliseconds to a few hundred on a CPU, a queue wait is about BATCH_DELAY_MS plus the runs ahead, an admission wait
 * at most PARK_MS (1 s), and a whole request up to the request timeout (seconds).
 */
const STAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The stages of mixer_stage_duration_seconds (see observe/stage-metrics.ts): five parts, the whole, and cache hits. */
export const STAGES = ['admission_wait', 'decode', 'queue_wait', 'inference', 'encode', 'total', 'cache_hit'] as const;
export type Stage = (typeof STAGES)[number];

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route' | 'method'>;
  readonly queueTime: Histogram<'model' | 'version'>;
  readonly inferenceTime: Histogram<'model' | 'version'>;
  readonly batchSize: Histogram<'model' | 'version'>;
  readonly batchFill: Histogram<'model' | 'version'>;
  readonly stageTime: Histogram<'model' | 'version' | 'stage'>;
  readonly queueDepth: Gauge<'model' | 'version'>;
  readonly images: Counter<'model' | 'version'>;
  readonly shed: Counter;
  readonly rateLimited: Counter<'key'>;
  readonly forbidden: Counter<'key' | 'scope'>;
  readonly success: Counter<'model' | 'version'>;
  readonly failure: Counter<'model' | 'version'>;
  readonly modelInfo: Gauge<'name' | 'version' | 'sha256' | 'provider'>;
  readonly requestTime: Histogram<'model' | 'version'>;
  readonly cacheHits: Counter<'model' | 'version'>;
  readonly cacheMisses: Counter<'model' | 'version'>;
  readonly cacheEvictions: Counter;
  readonly cacheBytes: Gauge<'model' | 'version'>;
  readonly cacheEntries: Gauge<'model' | 'version'>;
  readonly inFlight: Gauge;
  readonly parked: Gauge;

  /**
   * `depths` (per loaded model version), `admission` (images admitted, requests parked) and `cache` (response cache
   * bytes and entries per model version) are read at scrape time.
   */
  constructor(
    depths: () => { model: string; version: string; depth: number }[],
    maxBatch: number,
    admission: () => { images: number; parked: number } = () => ({ images: 0, parked: 0 }),
    cache: () => { model: string; version: string; bytes: number; entries: number }[] = () => [],
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Gauges may not end in _total (promtool); the per-type nodejs_active_{handles,requests,resources} sum to the same.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      this.registry.removeSingleMetric(name);
    this.requests = new Counter(
      'mixer_http_requests_total',
      'HTTP requests by route, method and status',
      ['route', 'method', 'status'],
      this.registry,
    );
    this.latency = new Histogram(
      'mixer_http_request_duration_seconds',
      'HTTP request latency',
      ['route', 'method'],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.queueTime = new Histogram(
      'mixer_queue_wait_seconds',
      'time each image waited for its batch',
      ['model', 'version'],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.inferenceTime = new Histogram(
      'mixer_inference_duration_seconds',
      'model run time per batch',
      ['model', 'version'],
      LATENCY_BUCKETS,
      this.registry,
    );
    const sizes: number[] = [];
    for (let b = 1; b < maxBatch; b *= 2) sizes.push(b);
    sizes.push(maxBatch);
    this.batchSize = new Histogram(
      'mixer_batch_size',
      'images per model run',
      ['model', 'version'],
      sizes,
      this.registry,
    );
    this.batchFill = new Histogram(
      'mixer_batch_fill_ratio',
      "images per model run over the model's max batch size (1: a full batch)",
      ['model', 'version'],
      [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
      this.registry,
    );
    this.stageTime = new Histogram(
      'mixer_stage_duration_seconds',
      'inference request time per stage (admission_wait, decode, queue_wait, inference: the share of its batch run, encode; total; cache_hit: a whole request answered from the response cache)',
      ['model', 'version', 'stage'],
      STAGE_BUCKETS,
      this.registry,
    );
    this.queueDepth = new Gauge({
      name: 'mixer_queue_depth',
      help: 'images waiting for a batch',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const d of depths()) this.set({ model: d.model, version: d.version }, d.depth);
      },
    });
    this.inFlight = new Gauge({
      name: 'mixer_images_in_flight',
      help: 'images admitted and not yet answered (decoding, waiting or running; at most MAX_QUEUE)',
      registers,
      collect() {
        this.set(admission().images);
      },
    });
    this.parked = new Gauge({
      name: 'mixer_requests_parked',
      help: 'infer requests waiting (up to 1 s, unread) for room while the service is full',
      registers,
      collect() {
        this.set(admission().parked);
      },
    });
    this.images = new Counter(
      'mixer_images_classified_total',
      'images run through the model',
      ['model', 'version'],
      this.registry,
    );
    this.shed = new Counter(
      'mixer_requests_shed_total',
      'requests answered 503 because the queue was full',
      [],
      this.registry,
    );
    this.rateLimited = new Counter(
      'mixer_rate_limited_total',
      'requests refused 429 RATE_LIMITED (gRPC RESOURCE_EXHAUSTED), by key id (name= or a digest prefix; anonymous: limited by client address)',
      ['key'],
      this.registry,
    );
    this.forbidden = new Counter(
      'mixer_forbidden_total',
      'requests refused 403 FORBIDDEN (gRPC PERMISSION_DENIED) for a scope their key lacks, by key id and scope',
      ['key', 'scope'],
      this.registry,
    );
    this.success = new Counter(
      'mixer_inference_request_success_total',
      'inference requests answered (HTTP and gRPC, /classify and v2 infer)',
      ['model', 'version'],
      this.registry,
    );
    this.failure = new Counter(
      'mixer_inference_request_failure_total',
      'inference requests that failed after reaching a model (bad tensors or images, overload, errors)',
      ['model', 'version'],
      this.registry,
    );
    this.requestTime = new Histogram(
      'mixer_inference_request_duration_seconds',
      'inference request time by model version (HTTP and gRPC, /classify and v2 infer; cache hits included)',
      ['model', 'version'],
      LATENCY_BUCKETS,
      this.registry,
    );
    this.cacheHits = new Counter(
      'mixer_cache_hits_total',
      'inference requests answered from the response cache',
      ['model', 'version'],
      this.registry,
    );
    this.cacheMisses = new Counter(
      'mixer_cache_misses_total',
      'inference requests of cached models not found in the response cache',
      ['model', 'version'],
      this.registry,
    );
    this.cacheEvictions = new Counter(
      'mixer_cache_evictions_total',
      'answers evicted from the response cache to stay within CACHE_BYTES',
      [],
      this.registry,
    );
    this.cacheBytes = new Gauge({
      name: 'mixer_cache_bytes',
      help: 'bytes held by the response cache (estimated from the kept answers)',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const u of cache()) this.set({ model: u.model, version: u.version }, u.bytes);
      },
    });
    this.cacheEntries = new Gauge({
      name: 'mixer_cache_entries',
      help: 'answers held by the response cache',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const u of cache()) this.set({ model: u.model, version: u.version }, u.entries);
      },
    });
    this.modelInfo = new Gauge({
      name: 'mixer_model_info',
      help: 'the loaded model versions (value 1)',
      labelNames: ['name', 'version', 'sha256', 'provider'],
      registers,
    });
  }
}
