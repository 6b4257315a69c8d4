// What the adapters share: the data plane, the model repository, the settings, the metrics, admission, keys, access and the lifecycle state.
import type { AddressInfo } from 'node:net';
import type { Access } from './access/gate.js';
import type { Admission } from './admission.js';
import type { KeyRing } from './auth.js';
import type { ServerConfig } from './config.js';
import type { DataPlane } from './core/data-plane.js';
import type { RecentImages } from './feedback/recent.js';
import type { FeedbackStore } from './feedback/store.js';
import type { Metrics } from './metrics.js';
import type { LogSettings } from './observe/log-settings.js';
import type { Tracing } from './observe/tracing.js';
import type { Repository } from './repository/repository.js';
import type { InferenceStats } from './stats.js';
import type { ResponseCache } from './traffic/response-cache.js';

export interface AppContext {
  repo: Repository;
  config: ServerConfig;
  metrics: Metrics;
  /** Images in flight: whole requests are admitted or refused before decoding. */
  admission: Admission;
  /** The API keys (disabled when none are set). */
  keys: KeyRing;
  /** Scopes and rate limits of the callers (HTTP and gRPC). */
  access: Access;
  /** Triton-style per version statistics (GET /v2/models/stats). */
  stats: InferenceStats;
  /** Kept answers of the models with "response_cache" on (--cache-bytes; off at 0). */
  cache: ResponseCache;
  /** closing: set when shutdown starts (readiness turns false, new requests get 503); metricsAddress: the --metrics-port listener once up. */
  state: { closing: boolean; metricsAddress?: AddressInfo };
  /** Triton's logging extension: the run-time log level and format (GET/POST /v2/logging, gRPC LogSettings). */
  logSettings: LogSettings;
  /** OpenTelemetry tracing and Triton's trace settings (off: no SDK, no hooks). */
  tracing: Tracing;
  /** The protocol-neutral data plane every adapter calls. */
  plane: DataPlane;
  /** The corrections store (--feedback-dir), null when feedback is off. */
  feedback: FeedbackStore | null;
  /** With feedback on, the images /classify saw recently (--feedback-recent-bytes), by sha256. */
  recent: RecentImages | null;
}
