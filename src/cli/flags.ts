// Command-line flags declared once, like the service's SETTINGS: kind, default, limits and help; the parser options,
// the typed values and the --help lines all come from the table.
import { type Options, UsageError } from './args.js';

export interface Flag {
  flag: string;
  /** int / number: checked against min, max or `range`; choice: one of `choices`; boolean: a switch. */
  kind: 'int' | 'number' | 'string' | 'choice' | 'boolean';
  /** The value's placeholder in the help (N, X, DIR, …; choices show themselves). */
  arg?: string;
  /** The value when the flag is not given (none: unset, or derived as `dfltText` says). */
  dflt?: number | string;
  /** How the help shows a default that is not a constant. */
  dfltText?: string;
  min?: number;
  max?: number;
  /** An interval the value must lie in, as the error names it ("[0, 1)") and as a test. */
  range?: { text: string; ok: (x: number) => boolean };
  choices?: readonly string[];
  /** The command refuses to run without it: the synopsis shows it without brackets. */
  required?: boolean;
  /** One or more lines; "{default}" places the default, else "(default …)" ends the first line when there is one. */
  help: string;
}

/** parseArgs options for these flags. */
export function flagOptions(flags: readonly Flag[]): Options {
  return Object.fromEntries(flags.map((f) => [f.flag, { type: f.kind === 'boolean' ? 'boolean' : 'string' } as const]));
}

/** The default as the help shows it. */
function defaultText(f: Flag): string | null {
  return f.dflt !== undefined ? String(f.dflt) : (f.dfltText ?? null);
}

/** The flag as a synopsis shows it: `--out FILE` when required, else `[--seed N]`, `[--json]`. */
function synopsisItem(f: Flag): string {
  const arg = f.kind === 'boolean' ? '' : ` ${f.arg ?? (f.choices ? f.choices.join('|') : 'X')}`;
  return f.required ? `--${f.flag}${arg}` : `[--${f.flag}${arg}]`;
}

/**
 * `mixer NAME ARGS FLAGS…` in the table's order, wrapped before `width` columns with the continuation lines under the
 * first item; `pad` widens the command name into a column (the docs' synopsis of every command).
 */
export function synopsis(
  name: string,
  flags: readonly Flag[],
  o: { args?: string; pad?: number; width?: number } = {},
): string {
  const head = `mixer ${name.padEnd(o.pad ?? 0)} `;
  const items = [...(o.args ? [o.args] : []), ...flags.map(synopsisItem)];
  const lines: string[] = [];
  let line = head;
  for (const item of items) {
    if (line.length > head.length && line.length + item.length > (o.width ?? 118)) {
      lines.push(line.trimEnd());
      line = ' '.repeat(head.length);
    }
    line += `${item} `;
  }
  lines.push(line.trimEnd());
  return lines.join('\n');
}

/** Help lines: `  --flag ARG             help (default …)`, continuation lines indented under the help. */
export function flagsHelp(flags: readonly Flag[]): string {
  return flags
    .map((f) => {
      const arg = f.kind === 'boolean' ? '' : ` ${f.arg ?? (f.choices ? f.choices.join('|') : 'X')}`;
      const d = defaultText(f);
      const [first = '', ...rest] = f.help.includes('{default}')
        ? f.help.replace('{default}', d ?? 'none').split('\n')
        : f.help.split('\n').map((l, i) => (i === 0 && d !== null ? `${l} (default ${d})` : l));
      const head = `  --${f.flag}${arg}`;
      const lines = [head.length < 25 ? `${head.padEnd(25)}${first}` : `${head} ${first}`];
      for (const l of rest) lines.push(`${' '.repeat(25)}${l}`);
      return lines.join('\n');
    })
    .join('\n');
}

/** The flag's number: its default when not given; a one-line UsageError naming the limits when invalid. */
export function numFlag(v: Record<string, unknown>, f: Flag): number {
  const x = v[f.flag];
  if (x === undefined) {
    if (typeof f.dflt !== 'number') throw new UsageError(`--${f.flag} is required`);
    return f.dflt;
  }
  const n = Number(x);
  const valid = typeof x === 'string' && x.trim() !== '' && Number.isFinite(n);
  if (f.range) {
    if (!valid || !f.range.ok(n))
      throw new UsageError(`--${f.flag} must be a number in ${f.range.text}, got "${String(x)}"`);
    return n;
  }
  if (!valid || (f.kind === 'int' && !Number.isInteger(n)))
    throw new UsageError(`--${f.flag} must be ${f.kind === 'int' ? 'an integer' : 'a number'}, got "${String(x)}"`);
  if (f.min !== undefined && n < f.min) throw new UsageError(`--${f.flag} must be at least ${f.min}, got ${n}`);
  if (f.max !== undefined && n > f.max) throw new UsageError(`--${f.flag} must be at most ${f.max}, got ${n}`);
  return n;
}

/** The flag's number, or undefined when it is not given (flags without a default). */
export function optionalNumFlag(v: Record<string, unknown>, f: Flag): number | undefined {
  return v[f.flag] === undefined ? undefined : numFlag(v, f);
}

/** The flag's string (its default when not given); a choice flag must be one of its choices. */
export function strFlag(v: Record<string, unknown>, f: Flag): string {
  const x = v[f.flag] ?? f.dflt;
  if (x === undefined) throw new UsageError(`--${f.flag} is required`);
  const s = String(x);
  if (f.choices && !f.choices.includes(s))
    throw new UsageError(`--${f.flag} "${s}" is not valid. Should be one of: ${f.choices.join(', ')}`);
  return s;
}
