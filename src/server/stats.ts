// Per model version inference statistics in the shape of Triton's statistics extension (counts and cumulative nanoseconds).
export interface Duration {
  count: number;
  ns: number;
}

export interface VersionStats {
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: {
    success: Duration;
    fail: Duration;
    queue: Duration;
    compute_input: Duration;
    compute_infer: Duration;
    compute_output: Duration;
    cache_hit: Duration;
    cache_miss: Duration;
  };
  /** Per batch size: model runs and their time (input and output handling are inside compute_infer here). */
  batch_stats: Map<number, Duration>;
}

const zero = (): Duration => ({ count: 0, ns: 0 });
const ns = (ms: number): number => Math.round(ms * 1e6);

export class InferenceStats {
  private readonly byVersion = new Map<string, VersionStats>();

  /** `onRequest` sees every finished request (the metrics' success and failure counters). */
  constructor(private readonly onRequest?: (model: string, version: number, ok: boolean, totalMs: number) => void) {}

  private get(model: string, version: number): VersionStats {
    const key = `${model}\u0000${version}`;
    let s = this.byVersion.get(key);
    if (!s) {
      s = {
        last_inference: 0,
        inference_count: 0,
        execution_count: 0,
        inference_stats: {
          success: zero(),
          fail: zero(),
          queue: zero(),
          compute_input: zero(),
          compute_infer: zero(),
          compute_output: zero(),
          cache_hit: zero(),
          cache_miss: zero(),
        },
        batch_stats: new Map(),
      };
      this.byVersion.set(key, s);
    }
    return s;
  }

  /** One model run of `size` rows serving `queueMs.length` requests. */
  batch(model: string, version: number, size: number, queueMs: readonly number[], inferenceMs: number): void {
    const s = this.get(model, version);
    s.execution_count++;
    s.inference_count += size;
    s.last_inference = Date.now();
    const st = s.inference_stats;
    for (const q of queueMs) {
      st.queue.count++;
      st.queue.ns += ns(q);
      // As in Triton, every request of a batch is charged the whole run.
      st.compute_infer.count++;
      st.compute_infer.ns += ns(inferenceMs);
    }
    const b = s.batch_stats.get(size) ?? zero();
    b.count++;
    b.ns += ns(inferenceMs);
    s.batch_stats.set(size, b);
  }

  /** One finished request: total time, and its input (decode) and output (encode) handling. */
  request(model: string, version: number, ok: boolean, totalMs: number, inputMs = 0, outputMs = 0): void {
    this.onRequest?.(model, version, ok, totalMs);
    const st = this.get(model, version).inference_stats;
    const d = ok ? st.success : st.fail;
    d.count++;
    d.ns += ns(totalMs);
    if (!ok) return;
    st.compute_input.count++;
    st.compute_input.ns += ns(inputMs);
    st.compute_output.count++;
    st.compute_output.ns += ns(outputMs);
  }

  /** One response cache lookup: a hit (the lookup's time) or a miss (the lookup's and the insert's time), as Triton. */
  cache(model: string, version: number, hit: boolean, ms: number): void {
    const st = this.get(model, version).inference_stats;
    const d = hit ? st.cache_hit : st.cache_miss;
    d.count++;
    d.ns += ns(ms);
  }

  /** The stats of a version (zeros when it has served nothing). */
  of(model: string, version: number): VersionStats {
    return this.get(model, version);
  }
}
