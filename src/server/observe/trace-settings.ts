// Triton's trace extension settings (trace_level, trace_rate, trace_count, log_frequency, trace_file), global and per model, and the sampling decision they make for each request.
import { ServiceError } from '../errors.js';

/** Triton's levels: OFF, TIMESTAMPS (spans with their times) and TENSORS (tensor contents, not offered here). */
export const TRACE_LEVELS = ['OFF', 'TIMESTAMPS'] as const;
export type TraceLevel = (typeof TRACE_LEVELS)[number];

/** The settings Triton names; values are strings (trace_level a list), as Triton's JSON and gRPC messages carry them. */
export interface TritonTraceSettings {
  trace_level: string[];
  trace_rate: string;
  trace_count: string;
  log_frequency: string;
  trace_file: string;
  /** Where spans go (Triton's OpenTelemetry mode reports it too). */
  trace_mode: string;
}

/** One scope's settings (the global ones, or the fields a model overrides). */
interface Scope {
  level: TraceLevel;
  /** Sample one request in `rate` (Triton: every Nth); 0 samples none. */
  rate: number;
  /** Traces still to take (-1: no limit). */
  count: number;
}

type Override = Partial<Scope>;

/** What the settings start from: OTEL_TRACES_SAMPLER(_ARG) mapped onto Triton's rate, and whether tracing is on. */
export interface TraceStart {
  on: boolean;
  rate: number;
  /** Follow an incoming traceparent's sampled flag (the parentbased_* samplers, OpenTelemetry's default). */
  parentBased: boolean;
}

/** The OTEL_TRACES_SAMPLER names and what each means here. */
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/**
 * OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG as Triton's trace_rate: always_on 1, always_off 0, traceidratio
 * p the nearest 1 in N (p = 0: none). A string saying what is wrong for anything else.
 */
export function samplerFromEnv(
  sampler: string | undefined,
  arg: string | undefined,
): { rate: number; parentBased: boolean } | string {
  const name = (sampler ?? 'parentbased_always_on').trim().toLowerCase();
  if (!(SAMPLERS as readonly string[]).includes(name))
    return `OTEL_TRACES_SAMPLER "${name.slice(0, 40)}" is not supported; use one of ${SAMPLERS.join(', ')}`;
  const parentBased = name.startsWith('parentbased_');
  const base = name.replace('parentbased_', '');
  if (base === 'always_on') return { rate: 1, parentBased };
  if (base === 'always_off') return { rate: 0, parentBased };
  const p = arg === undefined || arg.trim() === '' ? 1 : Number(arg);
  if (!Number.isFinite(p) || p < 0 || p > 1)
    return `OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1 for ${name}, got "${String(arg).slice(0, 40)}"`;
  return { rate: p === 0 ? 0 : Math.max(1, Math.round(1 / p)), parentBased };
}

const KNOWN = ['trace_level', 'trace_rate', 'trace_count', 'log_frequency', 'trace_file', 'trace_mode'];

/** An integer setting from Triton's string (numbers are taken too); BAD_REQUEST naming the field otherwise. */
function intSetting(field: string, v: unknown, min: number): number {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : null;
  if (s === null || !/^-?\d{1,10}$/.test(s) || Number(s) < min)
    throw new ServiceError(
      'BAD_REQUEST',
      `${field} must be an integer of at least ${min} (as a string, e.g. "${Math.max(min, 1)}"), got ${JSON.stringify(v)?.slice(0, 40)}`,
    );
  return Number(s);
}

/** trace_level: a list of level names (a single string is taken too); TENSORS is refused, not ignored. */
function levelSetting(v: unknown): TraceLevel {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string'))
    throw new ServiceError('BAD_REQUEST', 'trace_level must be a list of levels, e.g. ["TIMESTAMPS"] or ["OFF"]');
  const names = (list as string[]).map((x) => x.toUpperCase());
  const bad = names.find((x) => !(TRACE_LEVELS as readonly string[]).includes(x));
  if (bad !== undefined)
    throw new ServiceError(
      'BAD_REQUEST',
      `trace_level ${JSON.stringify(bad.slice(0, 20))} is not supported; use ${TRACE_LEVELS.join(' or ')} (tensor contents are never traced)`,
    );
  return names.includes('TIMESTAMPS') ? 'TIMESTAMPS' : 'OFF';
}

/**
 * Triton's trace settings as this service keeps them, and the sampler they make: a request is traced when its scope's
 * level is TIMESTAMPS, its trace_count is not spent, and either its caller's traceparent is sampled (parent-based) or
 * it is the 1st, (N+1)th, (2N+1)th… request of its scope with trace_rate N. Requests naming a model use the model's
 * scope, which overrides the global fields it sets.
 */
export class TraceSettings {
  private readonly global: Scope;
  private readonly models = new Map<string, Override>();
  /** Requests seen per scope (the global one under ''), for the rate. */
  private readonly seen = new Map<string, number>();
  private readonly modelCount = new Map<string, number>();

  constructor(
    /** Whether spans can go anywhere (the exporter is set up); while false the level stays OFF. */
    readonly on: boolean,
    private readonly start: { rate: number; parentBased: boolean },
    private readonly exporterName = 'opentelemetry',
  ) {
    this.parentBased = start.parentBased;
    this.global = { level: on ? 'TIMESTAMPS' : 'OFF', rate: start.rate, count: -1 };
  }

  readonly parentBased: boolean;

  /**
   * Whether to trace a request for `model` (undefined: the global scope). `parent`: the incoming traceparent's sampled
   * flag, or undefined without one. Counts towards the rate and spends trace_count.
   */
  sample(model: string | undefined, parent: boolean | undefined): boolean {
    const o = model === undefined ? undefined : this.models.get(model);
    const level = o?.level ?? this.global.level;
    if (level === 'OFF') return false;
    const own = o?.count !== undefined;
    const count = own ? this.modelCount.get(model!)! : this.global.count;
    if (count === 0) return false;
    let take: boolean;
    if (parent !== undefined && this.parentBased) take = parent;
    else {
      const rate = o?.rate ?? this.global.rate;
      const key = o?.rate !== undefined ? model! : '';
      const n = this.seen.get(key) ?? 0;
      this.seen.set(key, n + 1 >= rate ? 0 : n + 1);
      take = rate > 0 && n === 0;
    }
    if (take && count > 0) {
      if (own) this.modelCount.set(model!, count - 1);
      else this.global.count--;
    }
    return take;
  }

  /** The settings as Triton's GET /v2/trace/setting answers them (a model's: its overrides over the global ones). */
  get(model?: string): TritonTraceSettings {
    const o = model === undefined ? undefined : this.models.get(model);
    const count = o?.count !== undefined ? this.modelCount.get(model!)! : this.global.count;
    return {
      trace_level: [o?.level ?? this.global.level],
      trace_rate: String(o?.rate ?? this.global.rate),
      trace_count: String(count),
      log_frequency: '0',
      trace_file: '',
      trace_mode: this.exporterName,
    };
  }

  /**
   * Applies Triton's POST body: each given field is set (for a model: overridden; null clears a model's override and
   * the global field's null restores its start value). Unknown fields, TENSORS, log_frequency/trace_file values (spans
   * go to the OpenTelemetry exporter, not a file) and a level other than OFF while tracing is off are BAD_REQUEST; nothing
   * changes unless every field is valid.
   */
  update(body: unknown, model?: string): TritonTraceSettings {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new ServiceError('BAD_REQUEST', 'the trace settings must be a JSON object, e.g. {"trace_rate": "100"}');
    const fields = body as Record<string, unknown>;
    const unknown = Object.keys(fields).find((k) => !KNOWN.includes(k));
    if (unknown !== undefined)
      throw new ServiceError(
        'BAD_REQUEST',
        `unknown trace setting ${JSON.stringify(unknown.slice(0, 40))}; the settings are ${KNOWN.join(', ')}`,
      );
    const next: Override = {};
    const cleared: (keyof Scope)[] = [];
    const take = <K extends keyof Scope>(field: string, key: K, parse: (v: unknown) => Scope[K]) => {
      if (!(field in fields)) return;
      if (fields[field] === null) cleared.push(key);
      else next[key] = parse(fields[field]);
    };
    take('trace_level', 'level', levelSetting);
    take('trace_rate', 'rate', (v) => intSetting('trace_rate', v, 0));
    take('trace_count', 'count', (v) => intSetting('trace_count', v, -1));
    for (const f of ['log_frequency', 'trace_file', 'trace_mode'] as const) {
      const v = fields[f];
      if (v !== undefined && v !== null && v !== this.get(model)[f])
        throw new ServiceError(
          'BAD_REQUEST',
          `${f} cannot be changed: spans go to the OpenTelemetry exporter (OTEL_EXPORTER_OTLP_ENDPOINT), not to a file`,
        );
    }
    if (next.level === 'TIMESTAMPS' && !this.on)
      throw new ServiceError(
        'BAD_REQUEST',
        'tracing is off: start the server with --tracing on or OTEL_TRACES_EXPORTER=otlp to trace requests',
      );
    if (model === undefined) {
      for (const k of cleared) {
        if (k === 'level') this.global.level = this.on ? 'TIMESTAMPS' : 'OFF';
        if (k === 'count') this.global.count = -1;
        if (k === 'rate') this.global.rate = this.start.rate;
      }
      Object.assign(this.global, next);
      if (next.rate !== undefined || cleared.includes('rate')) this.seen.delete('');
    } else {
      const o = { ...this.models.get(model), ...next };
      for (const k of cleared) delete o[k];
      if (next.count !== undefined) this.modelCount.set(model, next.count);
      if (next.rate !== undefined || cleared.includes('rate')) this.seen.delete(model);
      if (Object.keys(o).length === 0) this.models.delete(model);
      else this.models.set(model, o);
    }
    return this.get(model);
  }
}
