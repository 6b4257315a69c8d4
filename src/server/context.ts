// What the routes share: the engine, the settings, the metrics and the lifecycle state.
import type { ServerConfig } from './config.js';
import type { Engine } from './engine.js';
import type { Metrics } from './metrics.js';

export interface AppContext {
  engine: Engine;
  config: ServerConfig;
  metrics: Metrics;
  /** Set when shutdown starts: readiness turns false and new requests get 503. */
  state: { closing: boolean };
}
