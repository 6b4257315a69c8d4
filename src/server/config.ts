// Service settings: one table (flag, env var, type, default, limits, help), parsed and validated at start with clear errors.
import os from 'node:os';
import path from 'node:path';
import { DEVICES, type Device } from '../runtime/session.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerConfig {
  modelPath: string;
  /** The name in responses and in /v2/models/{name}; default: the model file's name without extension. */
  modelName: string;
  port: number;
  host: string;
  device: Device;
  /** ORT intra-op threads per worker. */
  threads: number;
  workers: number;
  maxBatch: number;
  batchDelayMs: number;
  maxQueue: number;
  bodyLimit: number;
  maxPixels: number;
  maxFiles: number;
  logLevel: LogLevel;
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** `on`: the page for people at GET / and /ui/*; `off`: API only. */
  ui: 'on' | 'off';
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export { SHIPPED_MODEL_PATH as DEFAULT_MODEL_PATH } from '../model/load.js';
import { SHIPPED_MODEL_PATH as DEFAULT_MODEL_PATH } from '../model/load.js';

type Kind = 'int' | 'number' | 'string' | 'bytes' | 'choice';

export interface Setting {
  key: keyof ServerConfig;
  flag: string;
  env: string;
  kind: Kind;
  /** Default (null: derived from other settings). */
  dflt: string | number | null;
  min?: number;
  max?: number;
  choices?: readonly string[];
  help: string;
}

export const SETTINGS: readonly Setting[] = [
  { key: 'modelPath', flag: 'model', env: 'MODEL_PATH', kind: 'string', dflt: 'models/mixer-cifar10.onnx', help: 'ONNX model to serve (relative to the package root by default)' },
  { key: 'modelName', flag: 'model-name', env: 'MODEL_NAME', kind: 'string', dflt: null, help: 'name in responses and /v2/models/{name} (default: file name without .onnx)' },
  { key: 'port', flag: 'port', env: 'PORT', kind: 'int', dflt: 3000, min: 0, max: 65535, help: 'TCP port (0 picks a free one)' },
  { key: 'host', flag: 'host', env: 'HOST', kind: 'string', dflt: '0.0.0.0', help: 'address to listen on' },
  { key: 'device', flag: 'device', env: 'DEVICE', kind: 'choice', dflt: 'cpu', choices: DEVICES, help: 'execution provider: cpu, cuda (fail if missing) or auto (CUDA, else CPU with a warning)' },
  { key: 'threads', flag: 'threads', env: 'THREADS', kind: 'int', dflt: null, min: 1, max: 1024, help: 'ORT intra-op threads per worker (default: CPU cores / workers)' },
  { key: 'workers', flag: 'workers', env: 'WORKERS', kind: 'int', dflt: 1, min: 1, max: 64, help: 'inference worker threads, one session each' },
  { key: 'maxBatch', flag: 'max-batch', env: 'MAX_BATCH', kind: 'int', dflt: 32, min: 1, max: 4096, help: 'largest micro-batch (images per model run)' },
  { key: 'batchDelayMs', flag: 'batch-delay-ms', env: 'BATCH_DELAY_MS', kind: 'number', dflt: 2, min: 0, max: 10000, help: 'longest wait for a batch to fill while a worker is idle' },
  { key: 'maxQueue', flag: 'max-queue', env: 'MAX_QUEUE', kind: 'int', dflt: 256, min: 1, max: 1_000_000, help: 'images allowed to wait; beyond it requests get 503 + Retry-After' },
  { key: 'bodyLimit', flag: 'body-limit', env: 'BODY_LIMIT', kind: 'bytes', dflt: '10mb', min: 1024, max: 2 ** 31 - 1, help: 'largest request body / upload in bytes (suffixes kb, mb, gb)' },
  { key: 'maxPixels', flag: 'max-pixels', env: 'MAX_PIXELS', kind: 'int', dflt: 25_000_000, min: 1, max: 2 ** 31 - 1, help: 'largest image (width × height) decoded; larger gets 413' },
  { key: 'maxFiles', flag: 'max-files', env: 'MAX_FILES', kind: 'int', dflt: 32, min: 1, max: 10_000, help: 'most image parts in one multipart request; more gets 413' },
  { key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', kind: 'choice', dflt: 'info', choices: LOG_LEVELS, help: `pino log level: ${LOG_LEVELS.join(', ')}` },
  { key: 'requestTimeoutMs', flag: 'request-timeout-ms', env: 'REQUEST_TIMEOUT_MS', kind: 'int', dflt: 30_000, min: 0, max: 3_600_000, help: 'longest time to receive a whole request (0: none)' },
  { key: 'shutdownTimeoutMs', flag: 'shutdown-timeout-ms', env: 'SHUTDOWN_TIMEOUT_MS', kind: 'int', dflt: 10_000, min: 0, max: 3_600_000, help: 'on SIGTERM/SIGINT, longest wait for in-flight requests' },
  { key: 'ui', flag: 'ui', env: 'UI', kind: 'choice', dflt: 'on', choices: ['on', 'off'], help: 'the web page at / and /ui/model (off: API routes only)' },
];

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** Parses one raw value of a setting; `source` names it in errors (`--port` or `PORT`). */
export function parseSetting(s: Setting, raw: string, source: string): string | number {
  const v = raw.trim();
  switch (s.kind) {
    case 'string':
      if (v === '') throw new ConfigError(`${source} must not be empty`);
      return v;
    case 'choice':
      if (!s.choices!.includes(v)) throw new ConfigError(`${source} "${raw}" is not valid. Should be one of: ${s.choices!.join(', ')}`);
      return v;
    case 'bytes': {
      const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v);
      const unit = BYTE_UNITS[m?.[2]?.toLowerCase() ?? 'x'];
      if (!m || unit === undefined) throw new ConfigError(`${source} must be a size in bytes like 1048576, 512kb or 10mb, got "${raw}"`);
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

/** The model name derived from a path: file name without extension, reduced to [A-Za-z0-9_.-]. */
export function modelNameFor(modelPath: string): string {
  const base = path.basename(modelPath).replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]+/g, '-');
  return base || 'model';
}

/**
 * The full config: `given` (already parsed, e.g. from flags or code) wins over `env`, which wins over defaults.
 * Every value is range-checked, whatever its source.
 */
export function resolveConfig(given: Partial<ServerConfig>, env: Record<string, string | undefined> = {}): ServerConfig {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const g = given[s.key];
    if (g !== undefined) {
      out[s.key] = parseSetting(s, String(g), s.key);
      continue;
    }
    const e = env[s.env];
    if (e !== undefined && e !== '') out[s.key] = parseSetting(s, e, s.env);
    else if (s.dflt !== null) out[s.key] = s.kind === 'bytes' ? parseSetting(s, String(s.dflt), s.key) : s.dflt;
  }
  const cfg = out as unknown as ServerConfig;
  if (out['modelPath'] === 'models/mixer-cifar10.onnx' && given.modelPath === undefined && !env['MODEL_PATH']) cfg.modelPath = DEFAULT_MODEL_PATH;
  cfg.modelName ??= modelNameFor(cfg.modelPath);
  if (!/^[A-Za-z0-9_.-]+$/.test(cfg.modelName)) throw new ConfigError(`model name "${cfg.modelName}" may only use letters, digits, '_', '.' and '-'`);
  cfg.threads ??= Math.max(1, Math.floor(os.availableParallelism() / cfg.workers));
  return cfg;
}

/** Help lines for `mixer serve --help` and the docs: flag, env var, default, meaning. */
export function settingsHelp(): string {
  return SETTINGS.map((s) => {
    const d = s.dflt === null ? 'derived' : String(s.dflt);
    const arg = s.kind === 'choice' ? (s.choices!.length <= 3 ? s.choices!.join('|') : 'NAME') : s.kind.toUpperCase();
    return `  --${`${s.flag} ${arg}`.padEnd(34)} ${s.env.padEnd(20)} default ${d}\n      ${s.help}`;
  }).join('\n');
}
