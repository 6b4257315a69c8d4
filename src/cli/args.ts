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
  const all: Options = { help: { type: 'boolean', short: 'h' }, ...options };
  try {
    const r = parseArgs({ args: negativeValues(argv, all), options: all, allowPositionals, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(parseErrorMessage(e as Error & { code?: string }, all), { cause: e });
  }
}

/** `--lr -1` → `--lr=-1`: a negative number after a flag that takes a value is that value (parseArgs calls it ambiguous). */
function negativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d|Infinity$)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** One line that says what to do: the flag meant for an unknown one, how to give a value that starts with a dash. */
function parseErrorMessage(e: Error & { code?: string }, options: Options): string {
  const first = e.message.split('\n')[0]!;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = /'([^']+)'/.exec(first)?.[1] ?? '';
    const name = given.replace(/^--?/, '').split('=')[0]!;
    const near = closest(name, Object.keys(options));
    return `unknown option ${given}${near ? `; did you mean --${near}?` : ''} (--help lists the options)`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /'(--?[^' ]+)/.exec(first)?.[1] ?? '';
    if (/ambiguous/.test(first))
      return `${flag} needs a value, but the next argument starts with a dash: write ${flag}=VALUE for a value that starts with one`;
    if (/argument missing/.test(first)) return `${flag} needs a value`;
  }
  return first;
}

/** Edit distance between two strings: insertions, deletions, substitutions and swaps of two neighbours. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo (≤ 1/3 of its length, at least 1 edit allowed), or the one it abbreviates. */
export function closest(word: string, candidates: readonly string[]): string | null {
  if (word === '') return null;
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(word.length / 3));
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD || (d === bestD && best === null)) {
      best = c;
      bestD = d;
    }
  }
  if (best === null && word.length >= 3) {
    const prefixed = candidates.filter((c) => c.startsWith(word));
    if (prefixed.length === 1) best = prefixed[0]!;
  }
  return best;
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
