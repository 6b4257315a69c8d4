// OpenTelemetry tracing as the service sees it: a small facade (request, child, batch spans) the core and adapters call, set up from --tracing and the OTEL_* variables; the SDK is imported only when tracing is on.

import { ConfigError } from '../../util/errors.js';
import { samplerFromEnv, TraceSettings } from './trace-settings.js';

/** The --tracing setting (config.ts), restated here so the core's tracing types import no settings. */
export interface TracingSetting {
  tracing: 'auto' | 'on' | 'off';
}

/** Span attribute values the service writes. */
export type Attrs = Record<string, string | number | boolean>;

/** A started span: more attributes, then its end (with the error that ended it, if any). */
export interface SpanHandle {
  set(attrs: Attrs): void;
  end(error?: unknown): void;
}

/**
 * One traced request: its server span (HTTP or gRPC) and the spans under it. A request that is not sampled has no
 * RequestTrace at all (the adapters pass undefined), so untraced requests do no tracing work.
 */
export interface RequestTrace {
  readonly traceId: string;
  /** The server span's id (log lines carry it). */
  readonly spanId: string;
  /** `traceparent` (and `tracestate` when the caller sent one) of the server span, for the response. */
  readonly headers: Readonly<Record<string, string>>;
  /** The model and version that serve the request: on the server span and on every span started after. */
  model(name: string, version: number): void;
  /** A child of the server span; `startMs` (a performance.now() time) when it began earlier than now. */
  child(name: string, attrs?: Attrs, startMs?: number): SpanHandle;
  /** An event on the server span (e.g. a response-cache hit). */
  event(name: string, attrs?: Attrs): void;
  /**
   * The span of one micro-batch run, started by its first traced rider as a child of that rider's server span, with a
   * link to the server span of every traced request in it (this one included).
   */
  batch(riders: readonly RequestTrace[], attrs: Attrs): SpanHandle;
  /**
   * This request's queue wait, from `queuedAt` to `endMs` (performance.now() times; the batcher's one reading, which
   * the stage clock's queue wait also takes), linked to the batch span it joined.
   */
  queued(queuedAt: number, batch: SpanHandle, endMs: number): void;
  /** Marks the server span as failed with the service's error code (`error.type`); the first call wins. */
  fail(code: string, message: string): void;
  /** Ends the server span with its final attributes (status code, route). */
  end(attrs: Attrs): void;
}

/** The carrier fields a request brings: the W3C trace-context headers (HTTP) or metadata values (gRPC). */
export interface TraceCarrier {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

export interface Tracing {
  /** False when tracing is off: nothing is traced, no SDK is loaded and no hook is installed. */
  readonly on: boolean;
  /** Triton's trace settings (GET/POST /v2/trace/setting, gRPC TraceSetting), which sample every request. */
  readonly settings: TraceSettings;
  /**
   * Starts a request's server span when the settings sample it (for the model it names, `model`), continuing the
   * caller's trace from `carrier`, begun at `startMs` (performance.now(); default now); null when the request is not
   * traced.
   */
  server(
    kind: 'http' | 'grpc',
    name: string,
    carrier: TraceCarrier,
    attrs: Attrs,
    model?: string,
    startMs?: number,
  ): RequestTrace | null;
  /** Sends the spans ended so far (a failed export is logged, never thrown). */
  flush(): Promise<void>;
  /** Sends what is left and stops the exporter (a failed export is logged, never thrown). */
  shutdown(): Promise<void>;
}

/** Tracing off: no SDK, no spans, the settings fixed at level OFF. */
export function tracingOff(): Tracing {
  return {
    on: false,
    settings: new TraceSettings(false, { rate: 1, parentBased: true }, 'off'),
    server: () => null,
    flush: async () => {},
    shutdown: async () => {},
  };
}

/** OTEL_TRACES_EXPORTER values: otlp (OTLP over HTTP) or none. */
const EXPORTERS = ['otlp', 'none'];

/**
 * Whether tracing is on: `--tracing on|off` when given, else on when OTEL_TRACES_EXPORTER names an exporter ("otlp");
 * OTEL_SDK_DISABLED=true turns it off. ConfigError for an exporter or sampler this service cannot use.
 */
export function tracingWanted(config: TracingSetting, env: NodeJS.ProcessEnv): boolean {
  if (config.tracing === 'off' || env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return false;
  const exporter = env['OTEL_TRACES_EXPORTER']?.trim().toLowerCase();
  if (exporter !== undefined && exporter !== '' && !EXPORTERS.includes(exporter))
    throw new ConfigError(
      `OTEL_TRACES_EXPORTER "${exporter.slice(0, 40)}" is not supported; use ${EXPORTERS.join(' or ')}`,
    );
  if (config.tracing === 'on') {
    if (exporter === 'none') throw new ConfigError('--tracing on needs an exporter, but OTEL_TRACES_EXPORTER is none');
    return true;
  }
  return exporter === 'otlp';
}

/** Sets tracing up from the settings and the environment; the OpenTelemetry SDK is imported only when it is on. */
/** `warn` writes a warning to the service's log (a protocol downgraded, exports failing). */
export async function startTracing(
  config: TracingSetting,
  env: NodeJS.ProcessEnv,
  warn: (msg: string) => void,
): Promise<Tracing> {
  if (!tracingWanted(config, env)) return tracingOff();
  const sampler = samplerFromEnv(env['OTEL_TRACES_SAMPLER'], env['OTEL_TRACES_SAMPLER_ARG']);
  if (typeof sampler === 'string') throw new ConfigError(sampler);
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/json')
    .trim()
    .toLowerCase();
  if (protocol === 'grpc')
    throw new ConfigError(
      'OTEL_EXPORTER_OTLP_PROTOCOL grpc is not supported: spans are sent as OTLP over HTTP (http/json, port 4318)',
    );
  if (protocol === 'http/protobuf')
    warn(
      'OTEL_EXPORTER_OTLP_PROTOCOL http/protobuf: spans are sent as OTLP/HTTP JSON, which OTLP/HTTP receivers accept on the same endpoint',
    );
  else if (protocol !== 'http/json')
    throw new ConfigError(`OTEL_EXPORTER_OTLP_PROTOCOL "${protocol.slice(0, 40)}" is not supported; use http/json`);
  const { sdkTracing } = await import('./tracing-sdk.js');
  return sdkTracing(new TraceSettings(true, sampler), warn);
}
