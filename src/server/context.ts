// What the routes share: the model repository, the settings, the metrics and the lifecycle state.
import type { ServerConfig } from './config.js';
import type { Metrics } from './metrics.js';
import type { Repository } from './repository/repository.js';
import type { InferenceStats } from './stats.js';

export interface AppContext {
  repo: Repository;
  config: ServerConfig;
  metrics: Metrics;
  /** Triton-style per version statistics (GET /v2/models/stats). */
  stats: InferenceStats;
  /** Set when shutdown starts: readiness turns false and new requests get 503. */
  state: { closing: boolean };
}
