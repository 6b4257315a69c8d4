// The tracing facade on the OpenTelemetry SDK (imported by tracing.ts only when tracing is on): W3C trace context in and out, spans with explicit parents (no context manager), OTLP/HTTP export in batches.
import {
  type Context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { VERSION } from '../../util/version.js';
import type { TraceSettings } from './trace-settings.js';
import type { Attrs, RequestTrace, SpanHandle, TraceCarrier, Tracing } from './tracing.js';

const propagator = new W3CTraceContextPropagator();
const getter: TextMapGetter<TraceCarrier> = {
  keys: (c) => Object.keys(c),
  get: (c, key) => (key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined),
};
const setter: TextMapSetter<Record<string, string>> = {
  set: (c, key, value) => {
    c[key] = value;
  },
};

/** A span the facade hands out. */
class Handle implements SpanHandle {
  constructor(readonly span: Span) {}
  set(attrs: Attrs): void {
    this.span.setAttributes(attrs);
  }
  end(error?: unknown): void {
    if (error !== undefined) failSpan(this.span, error);
    this.span.end();
  }
}

/** ERROR status with the service's error code (a ServiceError's or RuntimeError's `code`) as `error.type`. */
function failSpan(span: Span, error: unknown): void {
  const code = (error as { code?: unknown }).code;
  span.setAttribute('error.type', typeof code === 'string' ? code : 'INTERNAL');
  span.setStatus({ code: SpanStatusCode.ERROR, message: String((error as Error).message ?? error).slice(0, 300) });
}

class SdkRequestTrace implements RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  readonly headers: Record<string, string> = {};
  private readonly ctx: Context;
  private modelAttrs: Attrs | null = null;
  /** The first failure (the thrown error's code) is the one the span keeps. */
  private failed = false;

  constructor(
    private readonly tracer: ReturnType<BasicTracerProvider['getTracer']>,
    private readonly span: Span,
  ) {
    const sc = span.spanContext();
    this.traceId = sc.traceId;
    this.spanId = sc.spanId;
    this.ctx = trace.setSpan(ROOT_CONTEXT, span);
    propagator.inject(this.ctx, this.headers, setter);
  }

  get spanContext(): SpanContext {
    return this.span.spanContext();
  }

  model(name: string, version: number): void {
    this.modelAttrs = { model_name: name, model_version: String(version) };
    this.span.setAttributes(this.modelAttrs);
  }

  private start(name: string, attrs: Attrs | undefined, startMs: number | undefined, links?: Link[]): Span {
    return this.tracer.startSpan(
      name,
      {
        attributes: { ...this.modelAttrs, ...attrs },
        ...(startMs !== undefined ? { startTime: startMs } : {}),
        ...(links ? { links } : {}),
      },
      this.ctx,
    );
  }

  child(name: string, attrs?: Attrs, startMs?: number): SpanHandle {
    return new Handle(this.start(name, attrs, startMs));
  }

  event(name: string, attrs?: Attrs): void {
    this.span.addEvent(name, attrs);
  }

  batch(riders: readonly RequestTrace[], attrs: Attrs): SpanHandle {
    const links = riders.map((r) => ({ context: (r as SdkRequestTrace).spanContext }));
    return new Handle(this.start('mixer.batch', attrs, undefined, links));
  }

  queued(queuedAt: number, batch: SpanHandle, endMs: number): void {
    this.start('mixer.queue', undefined, queuedAt, [{ context: (batch as Handle).span.spanContext() }]).end(endMs);
  }

  fail(code: string, message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.span.setAttribute('error.type', code);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: message.slice(0, 300) });
  }

  end(attrs: Attrs): void {
    this.span.setAttributes(attrs);
    this.span.end();
  }
}

/**
 * The SDK behind the facade. The sampling decision is the trace settings' (Triton's rate and count, parent-based on the
 * caller's flag), made before a span exists, so the SDK's own sampler keeps every span it is given. The resource:
 * service.name onnx-mixer and its version, overridden by OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. The
 * exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT/HEADERS/TIMEOUT; the batch processor OTEL_BSP_*.
 */
export function sdkTracing(settings: TraceSettings, warn: (msg: string) => void): Tracing {
  // Failed exports (a collector down or refusing) are the SDK's "global errors", whose handler is process-wide (the
  // last tracing set up reports them): at most one log line per 30 s.
  let lastWarned = -Infinity;
  const report = (e: unknown): void => {
    const now = performance.now();
    if (now - lastWarned < 30_000) return;
    lastWarned = now;
    warn(`OpenTelemetry: spans could not be exported (${describe(e)}); requests are unaffected`);
  };
  setGlobalErrorHandler(report);
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'onnx-mixer', 'service.version': VERSION }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({
    resource,
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  const tracer = provider.getTracer('onnx-mixer', VERSION);
  return {
    on: true,
    settings,
    server(kind, name, carrier, attrs, model, startMs) {
      let parent = ROOT_CONTEXT;
      let sampled: boolean | undefined;
      if (carrier.traceparent !== undefined) {
        parent = propagator.extract(ROOT_CONTEXT, carrier, getter);
        const sc = trace.getSpanContext(parent);
        if (sc) sampled = (sc.traceFlags & 1) === 1;
      }
      if (!settings.sample(model, sampled)) return null;
      const span = tracer.startSpan(
        name,
        {
          kind: SpanKind.SERVER,
          attributes: { ...attrs, ...(kind === 'grpc' ? { 'rpc.system': 'grpc' } : {}) },
          ...(startMs !== undefined ? { startTime: startMs } : {}),
        },
        parent,
      );
      return new SdkRequestTrace(tracer, span);
    },
    flush: () => provider.forceFlush().catch(report),
    shutdown: () => provider.shutdown().catch(report),
  };
}

/** An export error in a few words (the SDK's errors are not always Errors). */
function describe(e: unknown): string {
  const m = (e as { message?: unknown } | null)?.message;
  const text = typeof m === 'string' && m !== '' ? m : String(e);
  return text.slice(0, 200);
}
