// The API key file: one key per line, `KEY [scopes=infer,admin,feedback] [rate=R/s] [burst=B] [name=ID]`, blank lines and `#` comments skipped.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../util/errors.js';
import { parseBurst, parseRatePerSecond } from './rate.js';
import { isScope, SCOPES, type Scope } from './scopes.js';

/** One key with what its line says about it; null fields were not given (a key without scopes= has every scope). */
export interface KeyLine {
  key: string;
  scopes: readonly Scope[] | null;
  /** Requests per second (`rate=R/s`). */
  rate: number | null;
  burst: number | null;
  /** The id that metrics and logs show for this key (`name=`); otherwise one derived from its digest. */
  name: string | null;
}

/** Keys are visible ASCII (what fits a Bearer header). */
export const KEY_CHARS = /^[\x21-\x7e]+$/;
/** A key's name= : what a Prometheus label and a log line carry safely. */
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Parses the file's text; errors name the file and line, never the key. */
export function parseKeyLines(text: string, file: string): KeyLine[] {
  const out: KeyLine[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${file} line ${i + 1}`;
    // A # at the start or after a space begins a comment (a key may hold a # of its own).
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') return;
    const [key, ...fields] = line.split(/\s+/);
    if (!KEY_CHARS.test(key!) || key!.includes('='))
      throw new ConfigError(`${where}: a line must start with the key (visible ASCII characters, no "=")`);
    const entry: KeyLine = { key: key!, scopes: null, rate: null, burst: null, name: null };
    for (const f of fields) {
      const eq = f.indexOf('=');
      const [k, v] = eq > 0 ? [f.slice(0, eq), f.slice(eq + 1)] : [f, ''];
      if (k === 'scopes') {
        const list = v.split(',').filter((s) => s !== '');
        const bad = list.find((s) => !isScope(s));
        if (list.length === 0 || bad !== undefined)
          throw new ConfigError(
            `${where}: scopes= takes a comma-separated list of ${SCOPES.join(', ')}${bad !== undefined ? `, got "${bad.slice(0, 32)}"` : ''}`,
          );
        entry.scopes = [...new Set(list as Scope[])];
      } else if (k === 'rate') {
        const r = parseRatePerSecond(v);
        if (typeof r === 'string') throw new ConfigError(`${where}: ${r}`);
        entry.rate = r;
      } else if (k === 'burst') {
        const b = parseBurst(v);
        if (typeof b === 'string') throw new ConfigError(`${where}: ${b}`);
        entry.burst = b;
      } else if (k === 'name') {
        if (!NAME.test(v)) throw new ConfigError(`${where}: name= takes 1 to 64 of A-Z a-z 0-9 _ . : -`);
        entry.name = v;
      } else
        throw new ConfigError(
          `${where}: unknown field "${k.slice(0, 32)}"; a line is KEY [scopes=infer,admin,feedback] [rate=R/s] [burst=B] [name=ID]`,
        );
    }
    const before = seen.get(entry.key);
    if (before !== undefined) throw new ConfigError(`${where}: the same key as line ${before}`);
    seen.set(entry.key, i + 1);
    out.push(entry);
  });
  if (out.length === 0) throw new ConfigError(`the API key file ${file} has no key`);
  const names = new Set<string>();
  for (const e of out) {
    if (e.name === null) continue;
    if (names.has(e.name)) throw new ConfigError(`${file}: two keys are named "${e.name}"`);
    names.add(e.name);
  }
  return out;
}

/** Reads and parses an API key file. */
export function readKeysFile(file: string): KeyLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `cannot read the API key file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
  return parseKeyLines(text, file);
}
