// `mixer predict`'s output: one record per input (its predictions, or its error) as human-readable text, JSON lines or
// CSV (RFC 4180 quoting), and reading a previous output back for --resume.
import type { Prediction } from '../model/predictions.js';

export const FORMATS = ['text', 'json', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

/** One input's outcome. */
export type Outcome =
  | { path: string; predictions: Prediction[]; error?: undefined }
  | { path: string; error: { code: string; message: string }; predictions?: undefined };

export const CSV_HEADER = 'path,rank,label,index,probability,error_code,error_message\n';

/** A CSV field, quoted when it holds a comma, a quote, a CR or LF (quotes doubled), or starts or ends with a space. */
export function csvField(s: string): string {
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/** The text of one outcome in `format` (ends with a newline). */
export function formatOutcome(o: Outcome, format: Format): string {
  if (format === 'json')
    return `${JSON.stringify(o.error ? { path: o.path, error: o.error } : { path: o.path, predictions: o.predictions })}\n`;
  if (format === 'csv') {
    if (o.error) return `${[o.path, '', '', '', '', o.error.code, o.error.message].map(csvField).join(',')}\n`;
    return o.predictions
      .map(
        (p, i) =>
          `${[o.path, String(i + 1), p.label, String(p.index), String(p.probability), '', ''].map(csvField).join(',')}\n`,
      )
      .join('');
  }
  if (o.error) return `${oneLine(o.path)}: error ${o.error.code}: ${oneLine(o.error.message)}\n`;
  return `${oneLine(o.path)}\n${o.predictions.map((p) => `  ${(100 * p.probability).toFixed(1).padStart(5)}%  ${p.label}\n`).join('')}`;
}

/** CSV records (RFC 4180: quoted fields may hold commas, quotes and newlines); a record cut short at the end is dropped. */
export function csvRecords(text: string): { fields: string[]; end: number }[] {
  const out: { fields: string[]; end: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n') {
      fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
      out.push({ fields, end: i + 1 });
      fields = [];
      field = '';
    } else field += ch;
  }
  return out;
}

/**
 * What a previous output holds, for --resume: the inputs that succeeded and the text to keep (their records, without
 * error records, so failed inputs are tried again, and without a record cut short by an interrupted run).
 */
export function previousOutput(text: string, format: 'json' | 'csv'): { done: Set<string>; keep: string } {
  const done = new Set<string>();
  const kept: string[] = [];
  if (format === 'json') {
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    for (const line of complete.split('\n')) {
      if (line.trim() === '') continue;
      let r: { path?: unknown; predictions?: unknown };
      try {
        r = JSON.parse(line) as typeof r;
      } catch {
        continue;
      }
      if (typeof r.path === 'string' && Array.isArray(r.predictions)) {
        done.add(r.path);
        kept.push(`${line}\n`);
      }
    }
    return { done, keep: kept.join('') };
  }
  let start = 0;
  for (const [i, r] of csvRecords(text).entries()) {
    const raw = text.slice(start, r.end);
    start = r.end;
    if (i === 0 && raw === CSV_HEADER) continue;
    const [p, rank, , , , code] = r.fields;
    if (p !== undefined && rank !== '' && rank !== undefined && code === '') {
      done.add(p);
      kept.push(raw);
    }
  }
  return { done, keep: CSV_HEADER + kept.join('') };
}
