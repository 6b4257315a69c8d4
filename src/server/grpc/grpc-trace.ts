// gRPC and tracing: a call's server span from its traceparent/tracestate metadata (traceparent answered in the initial and trailing metadata), and Triton's TraceSetting RPC on the data plane's trace settings.
import * as grpc from '@grpc/grpc-js';
import type { DataPlane } from '../core/data-plane.js';
import type { RequestTrace, Tracing } from '../observe/tracing.js';

/** A metadata key's single string value (absent or repeated: undefined, as for HTTP headers). */
function one(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key);
  return v.length === 1 && typeof v[0] === 'string' ? v[0] : undefined;
}

/** What a server span reads of a call: a unary call, or a ModelStreamInfer call (one span per message). */
type TracedCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getPath' | 'getPeer' | 'metadata' | 'sendMetadata'>;

/**
 * Starts a call's server span when the trace settings sample it (the model its message names picks the scope):
 * rpc.system grpc, rpc.service, rpc.method, client.address. For a unary call (`message` not given) the span's
 * traceparent goes out at once in the initial metadata; a stream's messages (`message`, one span each, all children
 * of the call's trace context) cannot each have their own metadata, so theirs is not sent.
 */
export function grpcServerSpan(tracing: Tracing, call: TracedCall, message?: unknown): RequestTrace | undefined {
  const path = call.getPath();
  const cut = path.lastIndexOf('/');
  const service = path.slice(1, cut);
  const method = path.slice(cut + 1);
  const msg = (message ?? (call as { request?: unknown }).request) as { model_name?: unknown; name?: unknown } | null;
  const model = typeof msg?.model_name === 'string' && msg.model_name !== '' ? msg.model_name : undefined;
  const tr = tracing.server(
    'grpc',
    `${service}/${method}`,
    { traceparent: one(call.metadata, 'traceparent'), tracestate: one(call.metadata, 'tracestate') },
    { 'rpc.service': service, 'rpc.method': method, 'client.address': call.getPeer() },
    model,
  );
  if (!tr) return undefined;
  if (message === undefined) call.sendMetadata(traceMetadata(tr).metadata!);
  return tr;
}

/** The trace-context metadata of a call's span (for the trailers too), or nothing when the call is not traced. */
export function traceMetadata(tr: RequestTrace | undefined): { metadata?: grpc.Metadata } {
  if (!tr) return {};
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(tr.headers)) md.set(k, v);
  return { metadata: md };
}

/** Ends a call's span with its gRPC status code (rpc.grpc.status_code). */
export function endGrpcSpan(tr: RequestTrace | undefined, code: grpc.status): void {
  tr?.end({ 'rpc.grpc.status_code': code });
}

/** Triton's TraceSettingRequest: settings by name, each a list of strings (empty: clear it), and an optional model. */
export interface TraceSettingRequest {
  settings: Record<string, { value: string[] }>;
  model_name: string;
}

/**
 * TraceSetting: with no settings, reads them; otherwise applies them as POST /v2/trace/setting does (trace_level a
 * list, the others their first value, an empty list null) and answers the settings after the change.
 */
export async function traceSettingReply(plane: DataPlane, r: TraceSettingRequest) {
  const model = r.model_name === '' ? undefined : r.model_name;
  const entries = Object.entries(r.settings ?? {});
  let now: Record<string, string | string[]>;
  if (entries.length === 0) now = { ...plane.traceSetting(model) };
  else {
    const body: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const values = v?.value ?? [];
      body[k] = values.length === 0 ? null : k === 'trace_level' ? values : values.length === 1 ? values[0] : values;
    }
    now = { ...plane.updateTraceSetting(body, model) };
  }
  return {
    settings: Object.fromEntries(
      Object.entries(now).map(([k, v]) => [k, { value: Array.isArray(v) ? v : v === '' ? [] : [v] }]),
    ),
  };
}
