// Triton's logging extension on pino: the log settings as Triton names them (GET/POST /v2/logging, gRPC LogSettings), mapped onto the logger's level and time format.
import { type Logger, pino } from 'pino';
import { echo, ServiceError } from '../errors.js';

/** Triton's log settings, as GET /v2/logging answers them. */
export interface LogSettingsView {
  /** Always "": lines go to standard output (or the stream the app was given); not settable at run time. */
  log_file: string;
  log_info: boolean;
  log_warning: boolean;
  log_error: boolean;
  /** 0: no verbose lines; 1: pino's debug; 2 or more: pino's trace. */
  log_verbose_level: number;
  /** "default": pino's epoch-millisecond `time`; "ISO8601": an ISO 8601 `time` string. */
  log_format: LogFormat;
}

export const LOG_FORMATS = ['default', 'ISO8601'] as const;
type LogFormat = (typeof LOG_FORMATS)[number];

const KEYS = ['log_file', 'log_info', 'log_warning', 'log_error', 'log_verbose_level', 'log_format'] as const;

/** Triton's flags for a pino level (pino's level is a threshold: each level includes the ones above it). */
function viewOf(level: string): Pick<LogSettingsView, 'log_info' | 'log_warning' | 'log_error' | 'log_verbose_level'> {
  const rank = ['trace', 'debug', 'info', 'warn', 'error'].indexOf(level);
  const on = (r: number) => rank >= 0 && rank <= r;
  return { log_verbose_level: on(0) ? 2 : on(1) ? 1 : 0, log_info: on(2), log_warning: on(3), log_error: on(4) };
}

/** The pino level of consistent Triton flags (all off: fatal lines only). */
function levelOf(v: Pick<LogSettingsView, 'log_info' | 'log_warning' | 'log_error' | 'log_verbose_level'>): string {
  if (v.log_verbose_level >= 2) return 'trace';
  if (v.log_verbose_level === 1) return 'debug';
  return v.log_info ? 'info' : v.log_warning ? 'warn' : v.log_error ? 'error' : 'fatal';
}

const bad = (message: string): ServiceError => new ServiceError('BAD_REQUEST', message);

/**
 * The run-time log settings of one app. Changes apply to the root logger, so every request logger (a pino child
 * without a level of its own) follows them from the next line it writes: the next request sees them.
 *
 * Mapping: log_verbose_level ≥ 2 → trace, 1 → debug; else log_info → info, log_warning → warn, log_error → error,
 * none → fatal. As pino's level is a threshold, flags it cannot express (warnings off while info is on, verbose
 * lines while info is off) are refused with 400, naming the field, rather than half applied.
 */
export class LogSettings {
  private verbose: number;
  private format: LogFormat = 'default';

  constructor(private readonly log: Logger) {
    this.verbose = viewOf(log.level).log_verbose_level;
  }

  get(): LogSettingsView {
    const flags = viewOf(this.log.level);
    return {
      log_file: '',
      ...flags,
      // The verbose level as last set (Triton keeps any integer; 2 and above all mean trace here).
      log_verbose_level: flags.log_verbose_level === 2 ? Math.max(2, this.verbose) : flags.log_verbose_level,
      log_format: this.format,
    };
  }

  /** Applies the settings `body` names (the others stay); BAD_REQUEST naming the field for anything it cannot apply. */
  update(body: unknown): LogSettingsView {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw bad(`the log settings must be a JSON object (e.g. {"log_verbose_level": 1}), got ${echo(body)}`);
    const given = body as Record<string, unknown>;
    for (const key of Object.keys(given))
      if (!(KEYS as readonly string[]).includes(key))
        throw bad(`unknown log setting ${echo(key)}; the settings are ${KEYS.join(', ')}`);
    const next = this.get();
    if ('log_file' in given && given['log_file'] !== '')
      throw bad(
        `log_file cannot be set: this server writes its log to standard output (redirect it, or let the container runtime collect it); got ${echo(given['log_file'])}`,
      );
    for (const key of ['log_info', 'log_warning', 'log_error'] as const) {
      if (!(key in given)) continue;
      const v = given[key];
      if (typeof v !== 'boolean') throw bad(`${key} must be true or false, got ${echo(v)}`);
      next[key] = v;
    }
    if ('log_verbose_level' in given) {
      const v = given['log_verbose_level'];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw bad(`log_verbose_level must be an integer ≥ 0, got ${echo(v)}`);
      next.log_verbose_level = v;
    }
    if ('log_format' in given) {
      const v = given['log_format'];
      if (!(LOG_FORMATS as readonly unknown[]).includes(v))
        throw bad(`log_format must be one of ${LOG_FORMATS.map((f) => `"${f}"`).join(', ')}, got ${echo(v)}`);
      next.log_format = v as LogFormat;
    }
    // Only the flags the body names are checked against the threshold (a "silent" start keeps its level otherwise).
    const levelKeys = ['log_info', 'log_warning', 'log_error', 'log_verbose_level'].filter((k) => k in given);
    if (levelKeys.length > 0) {
      const conflict = thresholdConflict(next);
      if (conflict) throw bad(`${conflict} (pino's level is a threshold); send the other flags along with it`);
    }
    if (levelKeys.length > 0) {
      this.log.level = levelOf(next);
      this.verbose = next.log_verbose_level;
    }
    if (next.log_format !== this.format) {
      this.format = next.log_format;
      // Request loggers are children of this one: they read the time function through it.
      (this.log as unknown as Record<symbol, unknown>)[pino.symbols.timeSym] =
        this.format === 'ISO8601' ? pino.stdTimeFunctions.isoTime : pino.stdTimeFunctions.epochTime;
    }
    const now = this.get();
    if (Object.keys(given).length > 0) this.log.info({ logging: now }, 'log settings changed');
    return now;
  }
}

/** Which flag breaks pino's threshold, or null. */
function thresholdConflict(v: LogSettingsView): string | null {
  if (v.log_verbose_level > 0 && !v.log_info) return 'log_verbose_level > 0 needs log_info true';
  if (v.log_info && !v.log_warning) return 'log_info true needs log_warning true';
  if (v.log_warning && !v.log_error) return 'log_warning true needs log_error true';
  return null;
}
