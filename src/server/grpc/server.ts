// The gRPC adapter: inference.GRPCInferenceService (Open Inference Protocol and Triton's RPCs) and grpc.health.v1.Health, each call translated onto the data plane HTTP uses.
import { randomUUID } from 'node:crypto';
import type http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { UserError } from '../../util/errors.js';
import { Access } from '../access/gate.js';
import { KeyRing } from '../auth.js';
import type { AppContext } from '../context.js';
import type { InferLogFields, ModelRef } from '../core/data-plane.js';
import { echo, ServiceError, SHUTTING_DOWN_MESSAGE, toServiceError } from '../errors.js';
import { LOW_FD_LIMIT, openFileLimit } from '../fd-limit.js';
import { requestLineSampler, writeRequestLine } from '../logging.js';
import type { RequestTrace } from '../observe/tracing.js';
import { REQUEST_ID_PATTERN } from '../request-id.js';
import { routingKey } from '../traffic/split.js';
import { callKey } from './auth.js';
import {
  endGrpcSpan,
  grpcServerSpan,
  type TraceSettingRequest,
  traceMetadata,
  traceSettingReply,
} from './grpc-trace.js';
import { type GuardCounts, guardServers } from './guard.js';
import { type GrpcInferRequest, type GrpcInferResponse, grpcWire, toInferRequest } from './infer.js';
import { fromGrpcSettings, type GrpcLogSettings, toGrpcSettings } from './log-settings.js';
import { rateLimited, type StreamCall, serveStream } from './stream-infer.js';

const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));
const LOADER: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** Extensions served over gRPC (classification via the output parameter; logging: LogSettings; trace: TraceSetting). */
export const GRPC_EXTENSIONS = [
  'classification',
  'model_configuration',
  'model_repository',
  'statistics',
  'logging',
  'trace',
] as const;

/**
 * ServiceError status → gRPC status: bad input INVALID_ARGUMENT, unknown NOT_FOUND, overload and shutdown UNAVAILABLE
 * (retry), a model that failed to load FAILED_PRECONDITION (no retry until it is fixed, as gRPC's status guide says).
 */
export function grpcStatus(e: ServiceError): grpc.status {
  if (e.statusCode === 404) return grpc.status.NOT_FOUND;
  if (e.statusCode === 503) return e.retryable ? grpc.status.UNAVAILABLE : grpc.status.FAILED_PRECONDITION;
  if (e.statusCode === 401) return grpc.status.UNAUTHENTICATED;
  if (e.statusCode === 403) return grpc.status.PERMISSION_DENIED;
  if (e.statusCode === 429) return grpc.status.RESOURCE_EXHAUSTED;
  if (e.statusCode >= 400 && e.statusCode < 500) return grpc.status.INVALID_ARGUMENT;
  return grpc.status.INTERNAL;
}

interface RepositoryModelRequest {
  repository_name: string;
  model_name: string;
  parameters?: Record<string, unknown>;
}

/** The model a RepositoryModelLoad/Unload names; BAD_REQUEST for parameters (this server takes none). */
function repositoryModel(r: RepositoryModelRequest): string {
  const n = Object.keys(r.parameters ?? {}).length;
  if (n > 0) throw new ServiceError('BAD_REQUEST', `load/unload parameters are not supported (got ${n})`);
  return r.model_name;
}

/**
 * Triton's GRPCInferenceService as served here (proto/triton/: the KServe RPCs plus ModelStreamInfer, ModelConfig,
 * ModelStatistics, RepositoryIndex, RepositoryModelLoad/Unload, TraceSetting and LogSettings, with Triton's messages
 * and field numbers).
 */
export function tritonService() {
  const def = protoLoader.loadSync('grpc_service.proto', { ...LOADER, includeDirs: [`${PROTO_DIR}triton/`] });
  return (
    grpc.loadPackageDefinition(def) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } }
  ).inference.GRPCInferenceService;
}

function loadServices() {
  const pkg = grpcClients();
  // One service: the KServe RPCs and Triton's (a superset, the same wire) share the path /inference.GRPCInferenceService/.
  return {
    inference: { ...pkg.inference.GRPCInferenceService.service, ...tritonService().service },
    health: pkg.grpc.health.v1.Health.service,
  };
}

/** Requests one ModelStreamInfer call holds at most (read and not yet answered). */
export const STREAM_MAX_IN_FLIGHT = 8;

/** The package definition for clients (tests, benchmarks). */
export function grpcClients() {
  const def = protoLoader.loadSync(['grpc_predict_v2.proto', 'health.proto'], { ...LOADER, includeDirs: [PROTO_DIR] });
  return grpc.loadPackageDefinition(def) as unknown as {
    inference: { GRPCInferenceService: grpc.ServiceClientConstructor };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
}

type Unary<Req> = grpc.ServerUnaryCall<Req, unknown>;

export interface GrpcOptions {
  port: number;
  host: string;
  /** Overrides the configured API keys. */
  apiKeys?: readonly string[];
  /** Where each unary call's line goes (as HTTP requests' lines; none without). */
  log?: FastifyBaseLogger;
}

/** Server keep-alive: a ping after this long without one, and the connection dropped if it is not answered in time. */
const KEEPALIVE_TIME_MS = 60_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;

export class GrpcEndpoint {
  readonly server: grpc.Server;
  port = 0;
  /** What the transport guard has refused so far (set once listening). */
  guard: GuardCounts | null = null;
  private readonly watchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  /** Open ModelStreamInfer calls: each one's drain (stop reading, answer what was read, end) for shutdown. */
  private readonly streams = new Set<() => void>();
  private readonly access: Access;
  private readonly openPaths = new Set<string>();
  private readonly knownPaths = new Set<string>();
  private readonly streamPaths = new Set<string>();

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: GrpcOptions,
    version: string,
  ) {
    const c = ctx.config;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': c.bodyLimit,
      'grpc.max_send_message_length': -1,
      'grpc.max_concurrent_streams': c.grpcMaxStreams,
      'grpc.max_connection_idle_ms': c.grpcIdleTimeoutMs,
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    });
    const { inference, health } = loadServices();
    for (const m of [...Object.values(inference), ...Object.values(health)]) this.knownPaths.add(m.path);
    for (const m of Object.values(inference)) if (m.requestStream) this.streamPaths.add(m.path);
    // Open without a key, like /v2/health/* over HTTP.
    for (const m of [inference['ServerLive'], inference['ServerReady'], ...Object.values(health)])
      if (m) this.openPaths.add(m.path);
    // The server's keys, scopes and rate limits (--api-key, API_KEYS, the key file, --rate-limit), or the keys given here
    // (every scope, the server's rate limit); checked by the guard.
    this.access = opts.apiKeys
      ? new Access(new KeyRing(opts.apiKeys), ctx.access.defaultRate, ctx.access.hooks)
      : ctx.access;
    const tracing = ctx.tracing;
    const sampler = requestLineSampler(c.logSuccesses);
    /**
     * The call's log line, sampled as HTTP request lines by the HTTP status its outcome maps to: method, gRPC status,
     * latency, the request id (the client's x-request-id when valid, as over HTTP), and an inference's fields; a server fault is always written.
     */
    const logCall = (call: Unary<unknown>, t0: number, fields: InferLogFields, code: grpc.status, e?: ServiceError) => {
      if (!opts.log) return;
      const given = call.metadata.get('x-request-id')[0];
      const line = {
        reqId: typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID(),
        grpcMethod: call.getPath(),
        grpcStatus: grpc.status[code],
        ...(e ? { code: e.code } : {}),
        ms: Math.round((performance.now() - t0) * 100) / 100,
        ...fields,
      };
      const fault = e && e.statusCode >= 500 && e.statusCode !== 503 ? e : null;
      writeRequestLine(opts.log, sampler, e ? e.statusCode : 200, line, fault, 'grpc call completed');
    };
    /**
     * A unary handler with closing check, error mapping and its log line (the API key was checked before the message
     * was read); with tracing on, the call's server span (grpc-trace.ts), whose trace the handler gets, and the
     * inference log fields the data plane fills.
     */
    const unary =
      <Req>(
        fn: (req: Req, call: Unary<Req>, trace: RequestTrace | undefined, fields: InferLogFields) => Promise<unknown>,
        allowClosing = false,
      ) =>
      (call: Unary<Req>, cb: grpc.sendUnaryData<unknown>) => {
        const t0 = performance.now();
        const fields: InferLogFields = {};
        const tr = tracing.on && !this.openPaths.has(call.getPath()) ? grpcServerSpan(tracing, call) : undefined;
        if (ctx.state.closing && !allowClosing) {
          tr?.fail('SHUTTING_DOWN', SHUTTING_DOWN_MESSAGE);
          endGrpcSpan(tr, grpc.status.UNAVAILABLE);
          logCall(call, t0, fields, grpc.status.UNAVAILABLE, new ServiceError('SHUTTING_DOWN', SHUTTING_DOWN_MESSAGE));
          return cb({ code: grpc.status.UNAVAILABLE, details: SHUTTING_DOWN_MESSAGE, ...traceMetadata(tr) });
        }
        fn(call.request, call, tr, fields).then(
          (res) => {
            endGrpcSpan(tr, grpc.status.OK);
            cb(null, res, traceMetadata(tr).metadata);
            logCall(call, t0, fields, grpc.status.OK);
          },
          (e: unknown) => {
            const se = toServiceError(e);
            if (se.code === 'OVERLOADED') ctx.metrics.shed.inc();
            const md = traceMetadata(tr).metadata ?? new grpc.Metadata();
            md.set('mixer-code', se.code);
            const code = grpcStatus(se);
            tr?.fail(se.code, se.message);
            endGrpcSpan(tr, code);
            cb({ code, details: se.message, metadata: md });
            logCall(call, t0, fields, code, se);
          },
        );
      };
    const plane = ctx.plane;
    // A request's version field: '' (the proto3 default) leaves the choice to the model's version policy.
    const ref = (name: string, version: string): ModelRef => ({ name, version: version === '' ? undefined : version });
    /** One ModelInferRequest on the data plane (unary ModelInfer and each message of ModelStreamInfer). */
    const infer = async (
      r: GrpcInferRequest,
      md: grpc.Metadata,
      trace: RequestTrace | undefined,
      log?: InferLogFields,
    ) => {
      if (!r.model_name) throw new ServiceError('BAD_TENSOR', 'model_name is required');
      return plane.infer(
        { ...ref(r.model_name, r.model_version), routingKey: routingKey(md.get('x-routing-key')), trace, log },
        () => toInferRequest(r),
        grpcWire,
      );
    };
    /**
     * One message of a ModelStreamInfer call, with tracing on its own server span (the call's trace context as its
     * parent, the model it names for the settings' scope), ended with the status a unary ModelInfer would have had.
     */
    const tracedMessage = (call: StreamCall, r: GrpcInferRequest): Promise<GrpcInferResponse> => {
      const tr = tracing.on ? grpcServerSpan(tracing, call, r) : undefined;
      if (!tr) return infer(r, call.metadata, undefined);
      return infer(r, call.metadata, tr).then(
        (res) => {
          endGrpcSpan(tr, grpc.status.OK);
          return res;
        },
        (e: unknown) => {
          const se = toServiceError(e);
          tr.fail(se.code, se.message);
          endGrpcSpan(tr, grpcStatus(se));
          throw e;
        },
      );
    };
    this.server.addService(inference, {
      ServerLive: unary(async () => ({ live: plane.live() }), true),
      ServerReady: unary(async () => ({ ready: plane.notReady() === null }), true),
      ModelReady: unary<{ name: string; version: string }>(
        (r) =>
          plane.modelReady(ref(r.name, r.version)).then(
            (m) => ({ ready: m.ready }),
            (e: unknown) => {
              if (e instanceof ServiceError && e.code === 'MODEL_UNAVAILABLE') return { ready: false };
              throw e;
            },
          ),
        true,
      ),
      ServerMetadata: unary(async () => plane.serverMetadata(GRPC_EXTENSIONS, version), true),
      ModelMetadata: unary<{ name: string; version: string }>((r) => plane.modelMetadata(ref(r.name, r.version)), true),
      ModelStatistics: unary<{ name: string; version: string }>(
        (r) => plane.statistics(r.name === '' ? undefined : r.name, ref(r.name, r.version).version),
        true,
      ),
      RepositoryIndex: unary<{ repository_name: string; ready: boolean }>(
        async (r) => ({ models: plane.repositoryIndex(r.ready) }),
        true,
      ),
      // Triton's load/unload parameters (config overrides, model files) are not supported: refused, not ignored.
      RepositoryModelLoad: unary<RepositoryModelRequest>(async (r) => {
        await plane.load(repositoryModel(r));
        return {};
      }),
      RepositoryModelUnload: unary<RepositoryModelRequest>(async (r) => {
        await plane.unload(repositoryModel(r));
        return {};
      }),
      LogSettings: unary<GrpcLogSettings>(async (r) => toGrpcSettings(ctx.logSettings.update(fromGrpcSettings(r)))),
      // Triton's trace settings (admin scope): the settings map read or changed, global or of model_name.
      TraceSetting: unary<TraceSettingRequest>(async (r) => traceSettingReply(plane, r)),
      ModelInfer: unary<GrpcInferRequest>((r, call, trace, fields) => infer(r, call.metadata, trace, fields)),
      ModelConfig: unary<{ name: string; version: string }>(
        async (r) => ({ config: await plane.modelConfig(ref(r.name, r.version)) }),
        true,
      ),
      ModelStreamInfer: (call: StreamCall) => this.stream(call, (r) => tracedMessage(call, r)),
    });
    this.server.addService(health, {
      Check: (call: Unary<{ service: string }>, cb: grpc.sendUnaryData<unknown>) => {
        const status = this.healthOf(call.request.service);
        if (status === 'SERVICE_UNKNOWN')
          return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${echo(call.request.service)}` });
        cb(null, { status });
      },
      Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
        call.write({ status: this.healthOf(call.request.service) });
        this.watchers.add(call as grpc.ServerWritableStream<unknown, unknown>);
        call.on('cancelled', () => this.watchers.delete(call as grpc.ServerWritableStream<unknown, unknown>));
      },
    });
  }

  /**
   * One ModelStreamInfer call: the guard checked its key and scope and took one token of its rate at the start (the
   * first request's); each further request takes a token of the same bucket, and one over the limit is answered
   * with a RATE_LIMITED error_message while the stream goes on.
   */
  private stream(call: StreamCall, infer: (r: GrpcInferRequest) => Promise<GrpcInferResponse>): void {
    if (this.ctx.state.closing) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: SHUTTING_DOWN_MESSAGE });
      return;
    }
    const access = this.access;
    const key = callKey(call.metadata.get('authorization').map(String), access.keys);
    // The peer as the guard saw it (host:port → host), for the per-address limit when keys are off.
    const address = call
      .getPeer()
      .replace(/:\d+$/, '')
      .replace(/^\[(.*)\]$/, '$1');
    const drain = serveStream(
      call,
      { maxInFlight: STREAM_MAX_IN_FLIGHT, maxInFlightBytes: this.ctx.config.bodyLimit },
      {
        infer,
        admit: () => {
          if (!access.enabled || typeof key === 'string') return null;
          const v = access.authorize(key, address, 'infer');
          return v.denied ? rateLimited(v.denied.message) : null;
        },
        failed: (e) => {
          if (e.code === 'OVERLOADED') this.ctx.metrics.shed.inc();
        },
      },
    );
    this.streams.add(drain);
    call.on('close', () => this.streams.delete(drain));
    call.on('cancelled', () => this.streams.delete(drain));
  }

  /** '' (the server) and the inference service: SERVING while ready. */
  private healthOf(service: string): string {
    if (service !== '' && service !== 'inference.GRPCInferenceService') return 'SERVICE_UNKNOWN';
    return this.ctx.plane.notReady() === null ? 'SERVING' : 'NOT_SERVING';
  }

  async listen(): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(
        `${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${this.opts.port}`,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    const c = this.ctx.config;
    this.guard = guardServers(http2ServersOf(this.server), {
      access: this.access,
      openPaths: this.openPaths,
      knownPaths: this.knownPaths,
      streamPaths: this.streamPaths,
      maxConnections: c.grpcMaxConnections,
      handshakeTimeoutMs: c.headersTimeoutMs,
      receiveTimeoutMs: c.requestTimeoutMs,
      maxBufferedBytes: c.grpcMaxBufferedBytes,
      onShed: () => this.ctx.metrics.shed.inc(),
    });
    return this.port;
  }

  /** Stops taking calls, lets the ones in flight finish (up to `timeoutMs`), then closes. */
  async close(timeoutMs: number): Promise<void> {
    for (const w of this.watchers) {
      w.write({ status: 'NOT_SERVING' });
      w.end();
    }
    this.watchers.clear();
    for (const drain of this.streams) drain();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * The HTTP/2 servers grpc-js listens with. grpc-js keeps them private and has no hook that runs before it buffers a
 * call's message; this reads its (1.10+) `http2Servers` map and fails the start loudly if a release changes it.
 */
function http2ServersOf(server: grpc.Server): http2.Http2Server[] {
  const map = (server as unknown as { http2Servers?: unknown }).http2Servers;
  const servers = map instanceof Map ? [...map.keys()] : [];
  if (servers.length === 0 || !servers.every((s) => typeof (s as http2.Http2Server).listeners === 'function'))
    throw new Error('@grpc/grpc-js no longer exposes its HTTP/2 servers: the gRPC transport guard cannot be installed');
  return servers as http2.Http2Server[];
}

const endpoints = new WeakMap<FastifyInstance, GrpcEndpoint>();

/** The gRPC endpoint of an app (null when --grpc-port is unset). */
export const grpcEndpoint = (app: FastifyInstance): GrpcEndpoint | null => endpoints.get(app) ?? null;

/**
 * Serves gRPC beside the app when `grpcPort` is set: it listens when the app listens, and on close it stops taking
 * calls and drains the ones in flight before the models close.
 */
export function grpcPlugin(app: FastifyInstance, ctx: AppContext, version: string, apiKeys?: readonly string[]): void {
  const port = (ctx.config as { grpcPort?: number }).grpcPort;
  if (port === undefined) return;
  // grpc-js logs to stderr by itself; its lines go to the service's JSON log instead (a bind failure stays one CLI line).
  grpc.setLogger({
    error: (...args: unknown[]) => app.log.warn({ grpc: args.map(String).join(' ') }, 'grpc-js'),
  } as Partial<Console>);
  const ep = new GrpcEndpoint(
    ctx,
    { port, host: ctx.config.host, log: app.log, ...(apiKeys ? { apiKeys } : {}) },
    version,
  );
  endpoints.set(app, ep);
  // Bound when the app is ready (models loaded and warm), so a taken port fails the start like the HTTP one.
  app.addHook('onReady', async () => {
    const bound = await ep.listen().catch((e: Error) => {
      // A taken or forbidden port is the operator's mistake (exit 2), like the HTTP listener's EADDRINUSE.
      throw new UserError('GRPC_LISTEN', `cannot listen for gRPC on ${ctx.config.host}:${port}: ${e.message}`, {
        cause: e,
      });
    });
    const c = ctx.config;
    app.log.info({ grpcPort: bound, grpcMaxConnections: c.grpcMaxConnections }, 'gRPC listening');
    // Both ports draw on one descriptor table: warn when it is small, or when the gRPC cap would take most of it.
    const limit = openFileLimit();
    if (limit !== null && (limit < LOW_FD_LIMIT || c.grpcMaxConnections > limit / 2))
      app.log.warn(
        { openFileLimit: limit, grpcMaxConnections: c.grpcMaxConnections },
        `the open-file limit (ulimit -n) is ${limit}: ${limit < LOW_FD_LIMIT ? `raise it to at least ${LOW_FD_LIMIT}` : 'GRPC_MAX_CONNECTIONS is over half of it'}, or a connection flood can leave the HTTP port without descriptors`,
      );
  });
  app.addHook('preClose', async () => {
    ctx.state.closing = true;
    await ep.close(ctx.config.shutdownTimeoutMs);
  });
}
