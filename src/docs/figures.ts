// Figures quoted in the docs and the model reports, kept once in models/figures.json: markdown quotes one inline as
// `<!-- figure:KEY -->TEXT<!-- /figure -->`, and TEXT is rewritten from the file (or checked against it).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DocsError } from './regions.js';

/** Where the figures live, relative to the repository root. */
export const FIGURES_FILE = 'models/figures.json';

export interface Figure {
  text: string;
  what: string;
  source: string;
  /** The model file whose `mixer eval` accuracy this figure is, when it is one. */
  model?: string;
}

export interface FiguresFile {
  /** Model file → its sha256 when the figures were measured. */
  models: Record<string, string>;
  figures: Record<string, Figure>;
}

const MARKER = /<!-- figure:([a-z0-9-]+) -->(.*?)<!-- \/figure -->/g;

/** The figures file under `root` (no file: no figures). */
export function loadFigures(root: string): FiguresFile {
  const file = path.join(root, FIGURES_FILE);
  if (!existsSync(file)) return { models: {}, figures: {} };
  return JSON.parse(readFileSync(file, 'utf8')) as FiguresFile;
}

/** The text with every figure marker's text replaced by the figure's; an unknown key is a DocsError. */
export function fillFigures(text: string, figures: Readonly<Record<string, Figure>>, file: string): string {
  return text.replace(MARKER, (whole, key: string, _old: string, at: number) => {
    const f = figures[key];
    if (!f) {
      const line = text.slice(0, at).split('\n').length;
      throw new DocsError(`${file}:${line}: unknown figure "${key}" (not in ${FIGURES_FILE})`);
    }
    return whole.replace(/ -->.*?<!-- \//, ` -->${f.text}<!-- /`);
  });
}

/** The keys of the figures a text quotes through markers, in order. */
export function quotedFigures(text: string): string[] {
  return [...text.matchAll(MARKER)].map((m) => m[1]!);
}

/** Each figure whose text appears in `text` outside its markers (a copy that nothing keeps in step), with its line. */
export function unmarkedFigures(
  text: string,
  figures: Readonly<Record<string, Figure>>,
): { key: string; text: string; line: number }[] {
  const blanked = text.replace(MARKER, (m) => ' '.repeat(m.length));
  const out: { key: string; text: string; line: number }[] = [];
  for (const [key, f] of Object.entries(figures)) {
    let at = blanked.indexOf(f.text);
    while (at >= 0) {
      out.push({ key, text: f.text, line: blanked.slice(0, at).split('\n').length });
      at = blanked.indexOf(f.text, at + 1);
    }
  }
  return out;
}
