// Service settings: one table (flag, env var, type, default, limits, help), parsed and validated at start with clear errors.

import { constants as bufferConstants } from 'node:buffer';
import os from 'node:os';
import path from 'node:path';
import { DEVICES } from '../runtime/session.js';
import { ConfigError } from '../util/errors.js';
import { readKeysFile } from './access/keys-file.js';
import { parseRate } from './access/rate.js';
import { defaultGrpcConnections } from './fd-limit.js';
import { isModelName, MODEL_NAME_RULE } from './repository/names.js';
import { MODEL_CONTROLS, READINESS } from './repository/repository.js';

/** The largest model file read into one Buffer: 4 GiB, Node 20's limit on 64-bit (lower if this Node's is). */
export const MAX_BUFFER_BYTES = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export { SHIPPED_MODEL_PATH as DEFAULT_MODEL_PATH } from '../model/load.js';
export { ConfigError };

import { SHIPPED_MODEL_PATH as DEFAULT_MODEL_PATH, SHIPPED_MODEL_FILE } from '../model/load.js';

type Kind = 'int' | 'number' | 'string' | 'bytes' | 'choice' | 'list';

/** One setting as the table declares it; `Setting` is the same with `key` narrowed to the config's keys. */
interface SettingSpec {
  /** The field of ServerConfig it fills. */
  key: string;
  flag: string;
  env: string;
  /** The value's type: int, number and bytes are numbers, choice one of `choices`, list a string[]. */
  kind: Kind;
  /** Default (null: derived from other settings, or unset; `dfltText` says which in the help). */
  dflt: string | number | null;
  dfltText?: string;
  /** With a null default: resolveConfig always fills it in (from other settings), so ServerConfig's field is not optional. */
  derived?: true;
  /** Hide the value in errors (secrets). */
  secret?: boolean;
  /** An environment variable set but empty is an error, not "unset" (access control must not turn off by a slip). */
  noEmpty?: boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** One line for `mixer serve --help`. */
  help: string;
  /** The docs' description (markdown), where it says more than `help`; the docs show `help` without it. */
  doc?: string;
  /** The docs' default (markdown), where `dflt` (or, when null, `dfltText`) says too little. */
  docDefault?: string;
}

const TABLE = [
  {
    key: 'modelPath',
    flag: 'model',
    env: 'MODEL_PATH',
    kind: 'string',
    dflt: SHIPPED_MODEL_FILE,
    help: 'ONNX model to serve (relative to the package root by default)',
    doc: 'the ONNX model to serve',
    docDefault: `\`${SHIPPED_MODEL_FILE}\` (under the package root)`,
  },
  {
    key: 'modelName',
    flag: 'model-name',
    env: 'MODEL_NAME',
    kind: 'string',
    dflt: null,
    derived: true,
    help: "name in responses and /v2/models/{name} (default: the file name without .onnx; a model.onnx takes its folder's name: a training run's, or <name> of <name>/<version>/model.onnx)",
    doc: 'the name in responses and in `/v2/models/{name}`',
    docDefault:
      "the file name without `.onnx`; a `model.onnx` takes its folder's name (a training run's, or `<name>` of `<name>/<version>/model.onnx`)",
  },
  {
    key: 'modelRepository',
    flag: 'model-repository',
    env: 'MODEL_REPOSITORY',
    kind: 'string',
    dflt: null,
    help: 'serve every model in DIR/<model>/<version>/model.onnx (exclusive with --model)',
    doc: 'serve every model of a repository folder instead (see [Model repository](model-repository.md#model-repository)); exclusive with `--model` / `MODEL_PATH`',
    docDefault: 'none',
  },
  {
    key: 'defaultModel',
    flag: 'default-model',
    env: 'DEFAULT_MODEL',
    kind: 'string',
    dflt: null,
    help: 'model for requests without ?model= when the repository holds several',
    doc: 'where requests without `?model=` go when the repository holds several',
    docDefault: 'the only model',
  },
  {
    key: 'modelControl',
    flag: 'model-control',
    env: 'MODEL_CONTROL',
    kind: 'choice',
    dflt: 'none',
    choices: MODEL_CONTROLS,
    help: 'none: load at start only; poll: rescan the repository; explicit: POST /v2/repository/models/{name}/load|unload',
    doc: '`none` (load at start), `poll` (rescan the folder every `--poll-interval-ms`) or `explicit` (load/unload routes: `POST /v2/repository/models/{name}/load` and `/unload`)',
  },
  {
    key: 'loadModels',
    flag: 'load-model',
    env: 'LOAD_MODELS',
    kind: 'list',
    dflt: null,
    dfltText: 'all',
    help: 'with --model-control explicit: load only this model at start (repeatable; * = all; env comma-separated; default: all)',
    doc: "with `--model-control explicit`, the models loaded at start (as Triton's `--load-model`): the others stay unloaded until `POST /v2/repository/models/{name}/load`; `*` loads all. A name not in the repository fails the start",
    docDefault: 'all (every model in the repository)',
  },
  {
    key: 'readiness',
    flag: 'readiness',
    env: 'READINESS',
    kind: 'choice',
    dflt: 'all',
    choices: READINESS,
    help: 'all: /readyz, /v2/health/ready and gRPC ServerReady are ready when every model that should be loaded is READY; any: when one is',
    doc: '`all`: `/readyz`, `/v2/health/ready` and gRPC `ServerReady`/health are ready only when every model that should be loaded is `READY` (KServe/Triton); a broken model folder or a failed or loading version keeps them 503 `NOT_READY`, naming it. `any`: ready when one model is (the lenient behaviour before)',
  },
  {
    key: 'pollIntervalMs',
    flag: 'poll-interval-ms',
    env: 'POLL_INTERVAL_MS',
    kind: 'int',
    dflt: 5000,
    min: 100,
    max: 86_400_000,
    help: 'repository rescan interval with --model-control poll',
    doc: 'rescan interval with `--model-control poll`',
  },
  {
    key: 'retrainMargin',
    flag: 'retrain-margin',
    env: 'RETRAIN_MARGIN',
    kind: 'number',
    dflt: 1,
    min: 0,
    max: 100,
    help: 'retrain gate: the most original validation accuracy (percentage points) a retrained version may lose',
    doc: "the retrain gate's margin: a candidate must beat the current version on the held-out corrections and lose at most this many percentage points of accuracy on the original validation split (see [The gate](retrain.md#the-gate))",
  },
  {
    key: 'canaryShare',
    flag: 'canary-share',
    env: 'CANARY_SHARE',
    kind: 'number',
    dflt: 10,
    min: 1,
    max: 99,
    help: 'percent of the requests without a version a retrained version gets until it is promoted or rolled back',
    doc: 'the traffic weight (percent) a version written by a retrain starts with, next to the version it was trained from (see [Canary, promote, rollback](retrain.md#canary-promote-rollback))',
  },
  {
    key: 'canaryAutoRequests',
    flag: 'canary-auto-requests',
    env: 'CANARY_AUTO_REQUESTS',
    kind: 'int',
    dflt: 0,
    min: 0,
    max: 1_000_000_000,
    help: "decide a canary after N of its requests: promote unless its error rate is above the incumbent's, else roll back (0: off)",
    doc: "the automatic rule: once the canary has served N requests, it is promoted when its error rate is not above the incumbent's since the canary started, and rolled back otherwise; `0` leaves the decision to `POST …/promote` and `…/rollback` (see [Canary, promote, rollback](retrain.md#canary-promote-rollback))",
  },
  {
    key: 'maxModelBytes',
    flag: 'max-model-bytes',
    env: 'MAX_MODEL_BYTES',
    kind: 'bytes',
    dflt: '2gb',
    min: 1024,
    // The model file is read into one Buffer: no larger than Node allows (4 GiB on 64-bit Node 20).
    max: MAX_BUFFER_BYTES,
    help: `largest model file (with its external data) loaded, at most ${MAX_BUFFER_BYTES / 2 ** 30}gb (the largest file Node reads into one buffer)`,
    doc: `the largest model file (with its external data) that is loaded; at most \`${MAX_BUFFER_BYTES / 2 ** 30}gb\`, the largest file Node reads into one buffer (more is a start-up error, exit 2)`,
  },
  {
    key: 'allowExternalLinks',
    flag: 'allow-external-links',
    env: 'ALLOW_EXTERNAL_LINKS',
    kind: 'choice',
    dflt: 'off',
    choices: ['off', 'on'],
    help: 'on: symlinked model folders, version folders and files in the repository may point outside it (off: such a model is unavailable)',
    doc: '`on`: symlinked model folders, version folders and files in the repository may point outside it; `off`: such a model is `UNAVAILABLE`',
  },
  {
    key: 'port',
    flag: 'port',
    env: 'PORT',
    kind: 'int',
    dflt: 3000,
    min: 0,
    max: 65535,
    help: 'TCP port (0 picks a free one)',
    doc: 'TCP port (`0` picks a free one)',
  },
  {
    key: 'grpcPort',
    flag: 'grpc-port',
    env: 'GRPC_PORT',
    kind: 'int',
    dflt: null,
    min: 0,
    max: 65535,
    help: 'gRPC port for inference.GRPCInferenceService and grpc.health.v1 (Triton uses 8001; unset: no gRPC)',
    doc: "gRPC port for the Open Inference Protocol (`inference.GRPCInferenceService`) and `grpc.health.v1` (Triton's conventional port is 8001; `0` picks a free one)",
    docDefault: 'unset (no gRPC)',
  },
  {
    key: 'grpcMaxConnections',
    flag: 'grpc-max-connections',
    env: 'GRPC_MAX_CONNECTIONS',
    kind: 'int',
    dflt: null,
    derived: true,
    dfltText: 'min(1024, ulimit -n / 4)',
    min: 1,
    max: 1_000_000,
    help: 'open gRPC connections at most; more are closed as they arrive, so a flood cannot take the file descriptors the HTTP port needs (default: a quarter of the open-file limit, at most 1024)',
    doc: 'open gRPC connections at most; more are closed as they arrive, so that a flood cannot take the descriptors the HTTP port needs',
    docDefault: 'a quarter of `ulimit -n`, at most 1024',
  },
  {
    key: 'grpcMaxStreams',
    flag: 'grpc-max-streams',
    env: 'GRPC_MAX_STREAMS',
    kind: 'int',
    dflt: 100,
    min: 1,
    max: 1_000_000,
    help: 'concurrent gRPC calls (HTTP/2 streams) per connection',
  },
  {
    key: 'grpcIdleTimeoutMs',
    flag: 'grpc-idle-timeout-ms',
    env: 'GRPC_IDLE_TIMEOUT_MS',
    kind: 'int',
    dflt: 75_000,
    min: 100,
    max: 86_400_000,
    help: 'a gRPC connection without a call for this long is closed (GOAWAY); one that has not sent its HTTP/2 preface within HEADERS_TIMEOUT_MS is closed sooner',
    doc: 'a gRPC connection without a call for this long is closed (GOAWAY); one that has not sent its HTTP/2 preface within `HEADERS_TIMEOUT_MS` is closed sooner',
  },
  {
    key: 'grpcMaxBufferedBytes',
    flag: 'grpc-max-buffered-bytes',
    env: 'GRPC_MAX_BUFFERED_BYTES',
    kind: 'bytes',
    dflt: null,
    derived: true,
    dfltText: 'max(128mb, 4 × BODY_LIMIT)',
    min: 1024,
    max: 2 ** 40,
    help: 'memory all gRPC calls together may hold in received request bytes while they arrive and run (counted as the 64 KiB read buffers their chunks keep alive); a call that would go over gets UNAVAILABLE (OVERLOADED)',
    doc: 'memory all gRPC calls together may hold in received request bytes (counted as the up to 64 KiB read buffers their chunks keep alive); a call that would go over gets `UNAVAILABLE` (`OVERLOADED`); at least `BODY_LIMIT`',
    docDefault: 'max(`128mb`, 4 × `BODY_LIMIT`)',
  },
  { key: 'host', flag: 'host', env: 'HOST', kind: 'string', dflt: '0.0.0.0', help: 'address to listen on' },
  {
    key: 'device',
    flag: 'device',
    env: 'DEVICE',
    kind: 'choice',
    dflt: 'cpu',
    choices: DEVICES,
    help: 'execution provider: cpu, cuda (fail if missing) or auto (CUDA, else CPU with a warning)',
    doc: '`cpu`; `cuda` (fails at start if the CUDA provider is missing); `auto` (tries CUDA, falls back to the CPU and logs a warning)',
  },
  {
    key: 'threads',
    flag: 'threads',
    env: 'THREADS',
    kind: 'int',
    dflt: null,
    derived: true,
    min: 1,
    max: 1024,
    help: 'ORT intra-op threads per worker (default: CPU cores / workers)',
    doc: 'ONNX Runtime intra-op threads per worker',
    docDefault: 'CPU cores ÷ workers',
  },
  {
    key: 'workers',
    flag: 'workers',
    env: 'WORKERS',
    kind: 'int',
    dflt: null,
    derived: true,
    dfltText: 'min(cores, 4) on the CPU, else 1',
    min: 1,
    max: 64,
    help: 'inference worker threads, one session each (default: min(CPU cores, 4) with --device cpu and no --threads; else 1)',
    doc: 'inference worker threads, each with its own session',
    docDefault: 'on the CPU without `THREADS`: one per core, at most 4; otherwise `1`',
  },
  {
    key: 'maxBatch',
    flag: 'max-batch',
    env: 'MAX_BATCH',
    kind: 'int',
    dflt: 32,
    min: 1,
    max: 4096,
    help: 'largest micro-batch (images per model run)',
    doc: 'the most images in one model run',
  },
  {
    key: 'batchDelayMs',
    flag: 'batch-delay-ms',
    env: 'BATCH_DELAY_MS',
    kind: 'number',
    dflt: 2,
    min: 0,
    max: 10000,
    help: 'longest wait for a batch to fill while a worker is idle',
    doc: 'the longest an idle worker waits for a batch to fill',
  },
  {
    key: 'maxQueue',
    flag: 'max-queue',
    env: 'MAX_QUEUE',
    kind: 'int',
    dflt: 256,
    min: 1,
    max: 1_000_000,
    help: 'images in flight (decoding, waiting or running); beyond it requests get 503 + Retry-After',
    doc: 'the most images in flight (decoding, waiting or running), across all models; past that, requests get 503 with `Retry-After`',
  },
  {
    key: 'cacheBytes',
    flag: 'cache-bytes',
    env: 'CACHE_BYTES',
    kind: 'bytes',
    dflt: 0,
    min: 0,
    max: MAX_BUFFER_BYTES,
    help: 'response cache budget across models (0: off); a model caches with "response_cache": {"enable": true} in its config.json',
    doc: 'the response cache\'s byte budget across models, least recently used answers evicted first; `0` turns it off. Only models whose `config.json` has `"response_cache": {"enable": true}` are cached (see [Response cache](model-repository.md#response-cache))',
  },
  {
    key: 'bodyLimit',
    flag: 'body-limit',
    env: 'BODY_LIMIT',
    kind: 'bytes',
    dflt: '10mb',
    min: 1024,
    max: 2 ** 31 - 1,
    help: 'largest request body / upload in bytes (suffixes kb, mb, gb)',
    doc: 'the largest request body or upload (`kb`, `mb`, `gb` suffixes)',
  },
  {
    key: 'maxPixels',
    flag: 'max-pixels',
    env: 'MAX_PIXELS',
    kind: 'int',
    dflt: 25_000_000,
    min: 1,
    max: 2 ** 31 - 1,
    help: 'largest image (width × height) decoded; larger gets 413',
    doc: 'the largest image (width × height) that is decoded; anything larger gets 413',
  },
  {
    key: 'maxFiles',
    flag: 'max-files',
    env: 'MAX_FILES',
    kind: 'int',
    dflt: 32,
    min: 1,
    max: 10_000,
    help: 'most image parts in one multipart request; more gets 413',
    doc: 'the most image parts in one multipart request; more get 413',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    env: 'LOG_LEVEL',
    kind: 'choice',
    dflt: 'info',
    choices: LOG_LEVELS,
    help: `pino log level: ${LOG_LEVELS.join(', ')}`,
    doc: `pino level: ${LOG_LEVELS.slice(0, -1)
      .map((l) => `\`${l}\``)
      .join(', ')} or \`${LOG_LEVELS.at(-1)}\``,
  },
  {
    key: 'logSuccesses',
    flag: 'log-successes',
    env: 'LOG_SUCCESSES',
    kind: 'int',
    dflt: 10,
    min: 0,
    max: 1_000_000,
    help: 'request lines logged per second for each success status (4xx/503: 10); the rest are counted in droppedLines (0: none)',
    doc: 'request lines logged per second for each success status (4xx and 503: 10); the rest are counted in a later `droppedLines` line (`0`: none; a large number: all)',
  },
  {
    key: 'requestTimeoutMs',
    flag: 'request-timeout-ms',
    env: 'REQUEST_TIMEOUT_MS',
    kind: 'int',
    dflt: 30_000,
    min: 0,
    max: 3_600_000,
    help: "longest time to receive a whole request (0: none); on gRPC, a call's whole request message (else DEADLINE_EXCEEDED)",
    doc: "the longest time to receive a whole request (`0`: no limit); enforced to within a second; on gRPC, a call's request message (else `DEADLINE_EXCEEDED`)",
  },
  {
    key: 'headersTimeoutMs',
    flag: 'headers-timeout-ms',
    env: 'HEADERS_TIMEOUT_MS',
    kind: 'int',
    dflt: 10_000,
    min: 1,
    max: 3_600_000,
    help: "longest time to receive the request line and headers (capped by the request timeout); on gRPC, a new connection's HTTP/2 preface",
    doc: "the longest time to receive the request line and headers (at most the request timeout); on gRPC, a new connection's HTTP/2 preface",
  },
  {
    key: 'shutdownTimeoutMs',
    flag: 'shutdown-timeout-ms',
    env: 'SHUTDOWN_TIMEOUT_MS',
    kind: 'int',
    dflt: 10_000,
    min: 0,
    max: 3_600_000,
    help: 'on SIGTERM/SIGINT, longest wait for in-flight requests',
    doc: 'on SIGTERM or SIGINT, the longest wait for requests in flight before exiting 1',
  },
  {
    key: 'drainDelayMs',
    flag: 'drain-delay-ms',
    env: 'DRAIN_DELAY_MS',
    kind: 'int',
    dflt: 1000,
    min: 0,
    max: 600_000,
    help: 'on SIGTERM/SIGINT, first keep the connections open this long, answering new requests 503 SHUTTING_DOWN (load balancers retry those elsewhere), then close and drain; 0 closes at once and drops requests still on the wire',
    doc: 'on SIGTERM or SIGINT, first keep the connections open this long, answering new requests 503 `SHUTTING_DOWN` with `Connection: close`, so a load balancer re-sends them elsewhere; then close and drain. `0` closes at once: requests still on the wire then get no answer (31 of 72 sent 5 ms before SIGTERM in a test, none at 1000)',
  },
  {
    key: 'maxResponseBytes',
    flag: 'max-response-bytes',
    env: 'MAX_RESPONSE_BYTES',
    kind: 'bytes',
    dflt: '64mb',
    min: 1024,
    max: 2 ** 31 - 1,
    help: 'largest infer response; a request asking for more gets 400 RESPONSE_TOO_LARGE before inference',
    doc: 'the largest v2 infer response (HTTP and gRPC `ModelInfer`), counted before any `Accept-Encoding` compression, so the limit does not depend on how well the answer compresses; a request that could need more gets 400 `RESPONSE_TOO_LARGE` (gRPC `INVALID_ARGUMENT`) before inference',
  },
  {
    key: 'apiKeys',
    flag: 'api-key',
    env: 'API_KEYS',
    kind: 'list',
    dflt: null,
    derived: true,
    dfltText: 'none',
    secret: true,
    noEmpty: true,
    help: 'bearer key required on every route but /healthz, /readyz, /v2/health/* (flag repeatable; env comma-separated)',
    doc: 'keys for `Authorization: Bearer <key>`; see [Access control](security.md#access-control)',
  },
  {
    key: 'apiKeyFile',
    flag: 'api-key-file',
    env: 'API_KEYS_FILE',
    kind: 'string',
    dflt: null,
    dfltText: 'none',
    noEmpty: true,
    help: 'file with one API key per line, KEY [scopes=infer,admin,feedback] [rate=R/s] [burst=B] [name=ID] (blank lines and # comments skipped), added to the keys above',
    doc: 'a file with one key per line, `KEY [scopes=infer,admin,feedback] [rate=R/s] [burst=B] [name=ID]` (blank lines and `#` comments skipped), added to the keys above; see [Access control](security.md#access-control)',
  },
  {
    key: 'rateLimit',
    flag: 'rate-limit',
    env: 'RATE_LIMIT',
    kind: 'string',
    dflt: null,
    dfltText: 'none',
    help: "requests per second each API key may make, R/s[:B] with burst B (default: R rounded up); per client address when no key is set; the key file can set a key's own",
    doc: "each caller's rate limit, `R/s[:B]` (e.g. `10/s:20`): a token bucket of `B` requests (default: `R` rounded up) refilled at `R` per second, per API key, or per client address when no key is set; a key's own `rate=` / `burst=` in the key file override it. Over it: 429 `RATE_LIMITED` (gRPC `RESOURCE_EXHAUSTED`) before the body is read; see [Access control](security.md#access-control)",
    docDefault: 'none (no limit)',
  },
  {
    key: 'metricsPort',
    flag: 'metrics-port',
    env: 'METRICS_PORT',
    kind: 'int',
    dflt: null,
    dfltText: 'unset',
    min: 0,
    max: 65535,
    help: 'serve /metrics on this port only, without a key (unset: on the main port, behind the key)',
    doc: 'serve `/metrics` only on this port, without a key (unset: on the main port, behind the key)',
  },
  {
    key: 'metricsHost',
    flag: 'metrics-host',
    env: 'METRICS_HOST',
    kind: 'string',
    dflt: '127.0.0.1',
    help: 'address of the metrics listener',
    doc: 'the address of the metrics listener',
  },
  {
    key: 'corsOrigins',
    flag: 'cors-origin',
    env: 'CORS_ORIGINS',
    kind: 'list',
    dflt: null,
    derived: true,
    dfltText: 'none',
    help: 'browser origin allowed by CORS, e.g. https://app.example.com, or * (flag repeatable; env comma-separated; default: CORS off)',
    doc: 'a browser origin allowed by CORS, e.g. `https://app.example.com`, or `*`',
    docDefault: 'none (CORS off)',
  },
  {
    key: 'ui',
    flag: 'ui',
    env: 'UI',
    kind: 'choice',
    dflt: 'on',
    choices: ['on', 'off'],
    help: 'the web page at / and /ui/model (off: API routes only)',
    doc: '`off` removes the page (`/`, `/ui/*`) for deployments that want the API only',
  },
  {
    key: 'tracing',
    flag: 'tracing',
    env: 'TRACING',
    kind: 'choice',
    dflt: 'auto',
    choices: ['auto', 'on', 'off'],
    help: 'OpenTelemetry traces over OTLP/HTTP (auto: on when OTEL_TRACES_EXPORTER=otlp; the OTEL_* variables configure it)',
    doc: 'OpenTelemetry tracing: `auto` traces when `OTEL_TRACES_EXPORTER=otlp`, `on` always, `off` never (no SDK loaded); see [Observability](observability.md#tracing)',
  },
  {
    key: 'feedbackDir',
    flag: 'feedback-dir',
    env: 'FEEDBACK_DIR',
    kind: 'string',
    dflt: null,
    dfltText: 'none',
    help: 'store corrections (POST /v1/feedback) in DIR/<model>/<label>/<sha256>.<ext> + DIR/<model>/feedback.jsonl (unset: feedback off)',
    doc: 'turns feedback on: corrections sent to `POST /v1/feedback` are stored in `DIR/<model>/<label>/<sha256>.<ext>`, each logged in `DIR/<model>/feedback.jsonl`; see [Feedback](feedback-api.md#feedback-api)',
    docDefault: 'none (feedback off: the feedback routes answer 404 `FEEDBACK_OFF`)',
  },
  {
    key: 'feedbackMaxBytes',
    flag: 'feedback-max-bytes',
    env: 'FEEDBACK_MAX_BYTES',
    kind: 'bytes',
    dflt: '1gb',
    min: 1024,
    max: Number.MAX_SAFE_INTEGER,
    help: 'most bytes the feedback store may hold (images and history); a correction past it gets 507 FEEDBACK_FULL',
    doc: 'the most bytes the feedback store may hold (images and `feedback.jsonl` files); a correction that would pass it gets 507 `FEEDBACK_FULL` and nothing is written',
  },
  {
    key: 'feedbackRecentBytes',
    flag: 'feedback-recent-bytes',
    env: 'FEEDBACK_RECENT_BYTES',
    kind: 'bytes',
    dflt: '64mb',
    min: 0,
    max: MAX_BUFFER_BYTES,
    help: 'with feedback on, image bytes /classify keeps in memory (least recently used dropped) so a correction may send the sha256 instead (0: none)',
    doc: 'with feedback on, how many bytes of recently classified images are kept in memory (least recently used dropped first), so that a correction may name an image by its `sha256` instead of sending it again; `0` keeps none',
  },
] as const satisfies readonly SettingSpec[];

type Entry = (typeof TABLE)[number];
/** A setting's value type: from its kind, a choice's from its choices. */
type ValueOf<S extends Entry> = S extends { kind: 'choice'; choices: readonly (infer C)[] }
  ? C
  : S extends { kind: 'list' }
    ? string[]
    : S extends { kind: 'string' }
      ? string
      : number;
/** Settings that may stay unset: a null default that resolveConfig does not derive. */
type Unset = Extract<Entry, { dflt: null }> extends infer S ? (S extends { derived: true } ? never : S) : never;

/**
 * The resolved service config, one field per entry of SETTINGS (see each one's `help` and `doc`): int, number
 * and bytes are numbers, a choice is the union of its choices, a list a string[]; a setting with no default that
 * resolveConfig does not derive (e.g. `grpcPort`: no gRPC) is optional.
 */
export type ServerConfig = {
  [S in Exclude<Entry, Unset> as S['key']]: ValueOf<S>;
} & {
  [S in Unset as S['key']]?: ValueOf<S>;
};

export interface Setting extends SettingSpec {
  key: keyof ServerConfig;
}

/** The settings, in help and docs order. */
export const SETTINGS: readonly Setting[] = TABLE;

/** Keys are visible ASCII (what fits a Bearer header); errors name a key by position, never by value. */
function checkKeys(keys: string[], source: string): string[] {
  keys.forEach((k, i) => {
    if (!/^[\x21-\x7e]+$/.test(k))
      throw new ConfigError(`${source}: key ${i + 1} must be visible ASCII characters without spaces`);
  });
  return keys;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  k: 1024,
  mb: 1024 ** 2,
  m: 1024 ** 2,
  gb: 1024 ** 3,
  g: 1024 ** 3,
};

/** Parses one raw value of a setting; `source` names it in errors (`--port` or `PORT`). */
export function parseSetting(s: Setting, raw: string, source: string): string | number | string[] {
  const v = raw.trim();
  switch (s.kind) {
    case 'list': {
      const items = raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
      if (items.length === 0) throw new ConfigError(`${source} must not be empty`);
      return s.key === 'apiKeys' ? checkKeys(items, source) : items;
    }
    case 'string':
      if (v === '') throw new ConfigError(`${source} must not be empty`);
      return v;
    case 'choice':
      if (!s.choices!.includes(v))
        throw new ConfigError(`${source} "${raw}" is not valid. Should be one of: ${s.choices!.join(', ')}`);
      return v;
    case 'bytes': {
      const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v);
      const unit = BYTE_UNITS[m?.[2]?.toLowerCase() ?? 'x'];
      if (!m || unit === undefined)
        throw new ConfigError(`${source} must be a size in bytes like 1048576, 512kb or 10mb, got "${raw}"`);
      return range(s, Math.floor(Number(m[1]) * unit), source);
    }
    default: {
      const n = Number(v);
      if (v === '' || !Number.isFinite(n) || (s.kind === 'int' && !Number.isInteger(n))) {
        throw new ConfigError(`${source} must be ${s.kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
      }
      return range(s, n, source);
    }
  }
}

function range(s: Setting, n: number, source: string): number {
  if (s.min !== undefined && n < s.min) throw new ConfigError(`${source} must be at least ${s.min}, got ${n}`);
  if (s.max !== undefined && n > s.max) throw new ConfigError(`${source} must be at most ${s.max}, got ${n}`);
  return n;
}

/**
 * The model name derived from a path: the file name without extension; for a file named `model.onnx` (what
 * `mixer train` writes into its run folder) its folder's name, or in a Triton layout (`<name>/<version>/model.onnx`)
 * the model folder's; reduced to a valid model name.
 */
export function modelNameFor(modelPath: string): string {
  const stem = path.basename(modelPath).replace(/\.onnx$/i, '');
  let dir = path.dirname(path.resolve(modelPath));
  if (/^\d+$/.test(path.basename(dir))) dir = path.dirname(dir);
  const folder = path.basename(dir);
  const base = (stem.toLowerCase() === 'model' && folder ? folder : stem)
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return base || 'model';
}

/**
 * The full config: `given` (already parsed, e.g. from flags or code) wins over `env`, which wins over defaults.
 * Every value is range-checked, whatever its source. Called once per service: by `mixer serve` on its flags and
 * environment (and by programmatic callers on theirs); buildApp takes the result as it is.
 */
export function resolveConfig(
  given: Partial<ServerConfig>,
  env: Record<string, string | undefined> = {},
): ServerConfig {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const g = given[s.key];
    if (s.kind === 'list' && Array.isArray(g)) {
      out[s.key] = s.key === 'apiKeys' ? checkKeys(g.map(String), s.key) : g.map(String);
      continue;
    }
    if (g !== undefined) {
      out[s.key] = parseSetting(s, String(g), s.key);
      continue;
    }
    const e = env[s.env];
    if (e !== undefined && e.trim() === '' && s.noEmpty)
      throw new ConfigError(
        `${s.env} is set but empty: give it a value, or unset it to run without access control (every route open)`,
      );
    if (e !== undefined && e !== '') out[s.key] = parseSetting(s, e, s.env);
    else if (s.dflt !== null) out[s.key] = s.kind === 'bytes' ? parseSetting(s, String(s.dflt), s.key) : s.dflt;
  }
  const cfg = out as unknown as ServerConfig;
  // MODEL_PATH naming the shipped model is the container image's environment, not a choice of model.
  const envPath = env['MODEL_PATH'] ?? '';
  const pathGiven = given.modelPath !== undefined || (envPath !== '' && envPath !== DEFAULT_MODEL_PATH);
  if (cfg.modelRepository !== undefined && pathGiven) {
    throw new ConfigError(
      '--model (MODEL_PATH) and --model-repository (MODEL_REPOSITORY) are exclusive: set one of them',
    );
  }
  if (cfg.modelRepository === undefined && cfg.modelControl !== 'none')
    throw new ConfigError(`--model-control ${cfg.modelControl} needs --model-repository (MODEL_REPOSITORY)`);
  if (cfg.modelRepository === undefined && cfg.defaultModel !== undefined)
    throw new ConfigError('--default-model (DEFAULT_MODEL) needs --model-repository (MODEL_REPOSITORY)');
  // The default is shown relative to the package root (help, docs) and served from there, wherever mixer runs.
  if (given.modelPath === undefined && !env['MODEL_PATH']) cfg.modelPath = DEFAULT_MODEL_PATH;
  cfg.modelName ??= modelNameFor(cfg.modelPath);
  if (!isModelName(cfg.modelName))
    throw new ConfigError(`model name "${cfg.modelName}" is not valid: ${MODEL_NAME_RULE}`);
  cfg.workers ??= defaultWorkers(cfg);
  cfg.threads ??= Math.max(1, Math.floor(os.availableParallelism() / cfg.workers));
  const lines = cfg.apiKeyFile ? readKeysFile(cfg.apiKeyFile) : [];
  cfg.apiKeys = [...new Set([...(cfg.apiKeys ?? []), ...lines.map((l) => l.key)])];
  if (cfg.rateLimit !== undefined) {
    const r = parseRate(cfg.rateLimit);
    if (typeof r === 'string') throw new ConfigError(`--rate-limit (RATE_LIMIT): ${r}`);
  }
  const burstOnly = lines.findIndex((l) => l.burst !== null && l.rate === null);
  if (burstOnly >= 0 && cfg.rateLimit === undefined)
    throw new ConfigError(
      `${cfg.apiKeyFile}: key ${burstOnly + 1} sets burst= without rate=, and there is no --rate-limit (RATE_LIMIT) to take the rate from`,
    );
  if (cfg.loadModels !== undefined && cfg.modelControl !== 'explicit')
    throw new ConfigError(
      '--load-model (LOAD_MODELS) chooses the models loaded at start with --model-control explicit; without it every model loads',
    );
  cfg.corsOrigins ??= [];
  if (cfg.requestTimeoutMs > 0) cfg.headersTimeoutMs = Math.min(cfg.headersTimeoutMs, cfg.requestTimeoutMs);
  cfg.grpcMaxConnections ??= defaultGrpcConnections();
  if (cfg.grpcMaxBufferedBytes === undefined) cfg.grpcMaxBufferedBytes = Math.max(128 * 1024 ** 2, 4 * cfg.bodyLimit);
  else if (cfg.grpcPort !== undefined && cfg.grpcMaxBufferedBytes < cfg.bodyLimit)
    throw new ConfigError(
      `--grpc-max-buffered-bytes (GRPC_MAX_BUFFERED_BYTES) ${cfg.grpcMaxBufferedBytes} is below --body-limit (BODY_LIMIT) ${cfg.bodyLimit}: a call of the largest allowed size could never be received`,
    );
  return cfg;
}

/**
 * Workers when none are set. On the CPU, with no thread count either: one worker per core, up to 4. This model's small
 * GEMMs split poorly over threads (two threads run a batch about 1.3× faster than one, not 2×), so independent
 * single-threaded sessions serve more images per second, and at batch 1 one thread is as fast as two.
 * With THREADS set (the compose file's one thread per replica), or on a GPU (one device, one session): 1.
 */
function defaultWorkers(cfg: ServerConfig): number {
  if (cfg.device !== 'cpu' || cfg.threads !== undefined) return 1;
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** A setting's value as the help shows it: its choices (up to 3), NAME, VALUE (lists) or its kind. */
export function settingArg(s: Setting): string {
  if (s.kind === 'choice') return s.choices!.length <= 3 ? s.choices!.join('|') : 'NAME';
  return s.kind === 'list' ? 'VALUE' : s.kind.toUpperCase();
}

/** Help lines for `mixer serve --help`: flag, env var, default, meaning. */
export function settingsHelp(): string {
  return SETTINGS.map((s) => {
    const d = s.dflt === null ? (s.dfltText ?? 'derived') : String(s.dflt);
    return `  --${`${s.flag} ${settingArg(s)}`.padEnd(34)} ${s.env.padEnd(20)} default ${d}\n      ${s.help}`;
  }).join('\n');
}
