// Writes an answered request's stage timings (StageClock) to mixer_stage_duration_seconds, one observation per stage.
import type { Metrics, Stage } from '../metrics.js';
import type { StageClock } from './stage-clock.js';

/**
 * The recorder the DataPlane calls once per successful inference request, whatever its protocol. A request that ran
 * the model observes each of the five parts once (0 for a stage it skipped, such as no admission wait) and `total`,
 * so every stage's _count is the same and `total` is at least the sum of the parts (the rest: reading the upload,
 * the cache lookup, scheduling). A response cache hit observes only `cache_hit` (its whole time), so hits neither
 * dilute the parts nor hide in `total`. Failed requests are left out (mixer_inference_request_failure_total counts
 * them). Labels come from the loaded version that answered, never from the client, so series stay bounded.
 */
export function stageRecorder(metrics: Metrics): (model: string, version: number, clock: StageClock) => void {
  return (model, version, clock) => {
    const total = clock.totalMs();
    const v = String(version);
    const observe = (stage: Stage, ms: number): void =>
      metrics.stageTime.observe({ model, version: v, stage }, ms / 1000);
    if (clock.cacheHit) {
      observe('cache_hit', total);
      return;
    }
    observe('admission_wait', clock.admissionWaitMs);
    observe('decode', clock.decodeMs);
    observe('queue_wait', clock.queueWaitMs);
    observe('inference', clock.inferenceShareMs);
    observe('encode', clock.encodeMs);
    observe('total', total);
  };
}
