// Flag parsing shared by the subcommands: typed getters and one-line usage errors (exit code 2).

import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from '../util/errors.js';

export { UsageError };

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(
  argv: string[],
  options: Options,
  allowPositionals = false,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({
      args: argv,
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals,
      strict: true,
    });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!, { cause: e });
  }
}

export function str(v: Record<string, unknown>, k: string, dflt?: string): string {
  const x = v[k];
  if (typeof x === 'string') return x;
  if (dflt !== undefined) return dflt;
  throw new UsageError(`--${k} is required`);
}

export function num(
  v: Record<string, unknown>,
  k: string,
  dflt: number,
  o: { int?: boolean; min?: number; max?: number } = {},
): number {
  const x = v[k];
  if (x === undefined) return dflt;
  const n = Number(x);
  if (typeof x !== 'string' || x.trim() === '' || !Number.isFinite(n) || (o.int && !Number.isInteger(n))) {
    throw new UsageError(`--${k} must be ${o.int ? 'an integer' : 'a number'}, got "${String(x)}"`);
  }
  if (o.min !== undefined && n < o.min) throw new UsageError(`--${k} must be at least ${o.min}, got ${n}`);
  if (o.max !== undefined && n > o.max) throw new UsageError(`--${k} must be at most ${o.max}, got ${n}`);
  return n;
}

export function oneOf<T extends string>(v: Record<string, unknown>, k: string, choices: readonly T[], dflt: T): T {
  const x = v[k] ?? dflt;
  if (!choices.includes(x as T))
    throw new UsageError(`--${k} "${String(x)}" is not valid. Should be one of: ${choices.join(', ')}`);
  return x as T;
}
