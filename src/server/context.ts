// What the routes share: the engine, the settings, the metrics and the lifecycle state.
import type { AddressInfo } from 'node:net';
import type { Admission } from './admission.js';
import type { KeyRing } from './auth.js';
import type { ServerConfig } from './config.js';
import type { Engine } from './engine.js';
import type { Metrics } from './metrics.js';

export interface AppContext {
  engine: Engine;
  config: ServerConfig;
  metrics: Metrics;
  /** Images in flight: whole requests are admitted or refused before decoding. */
  admission: Admission;
  /** The API keys (disabled when none are set). */
  keys: KeyRing;
  /** closing: set when shutdown starts (readiness turns false, new requests get 503); metricsAddress: the --metrics-port listener once up. */
  state: { closing: boolean; metricsAddress?: AddressInfo };
}
