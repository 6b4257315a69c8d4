// Generated regions of markdown files: what lies between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` is
// rewritten from the code, the rest of the file is left as it is; any markdown file may hold any region.
import { readdirSync } from 'node:fs';
import path from 'node:path';

export class DocsError extends Error {}

const MARKER = /<!-- (\/?)generated:([a-z0-9-]+) -->/g;

/** The region names a text holds, in order; a marker without its partner or an unknown name is a DocsError. */
function regions(text: string, file: string, known: readonly string[]): { name: string; from: number; to: number }[] {
  const out: { name: string; from: number; to: number }[] = [];
  let open: { name: string; from: number; line: number } | null = null;
  for (const m of text.matchAll(MARKER)) {
    const [whole, slash, name = ''] = m;
    const line = text.slice(0, m.index).split('\n').length;
    if (!known.includes(name))
      throw new DocsError(`${file}:${line}: unknown generated region "${name}". Should be one of: ${known.join(', ')}`);
    if (slash === '') {
      if (open) throw new DocsError(`${file}:${open.line}: generated:${open.name} is not closed before line ${line}`);
      open = { name, from: m.index + whole.length, line };
    } else {
      if (open?.name !== name) throw new DocsError(`${file}:${line}: /generated:${name} closes no open region`);
      out.push({ name, from: open.from, to: m.index });
      open = null;
    }
  }
  if (open) throw new DocsError(`${file}:${open.line}: generated:${open.name} is never closed`);
  return out;
}

/** The text with each region's body replaced by the generated one (on its own lines between the markers). */
export function fillRegions(text: string, bodies: Readonly<Record<string, string>>, file: string): string {
  let out = '';
  let at = 0;
  for (const r of regions(text, file, Object.keys(bodies))) {
    out += `${text.slice(at, r.from)}\n${bodies[r.name]}\n`;
    at = r.to;
  }
  return out + text.slice(at);
}

/** The region names a text holds. */
export function regionNames(text: string, file: string, known: readonly string[]): string[] {
  return regions(text, file, known).map((r) => r.name);
}

/** The markdown files that may hold regions, relative to `root`: README.md, everything under docs/ and models/. */
export function docFiles(root: string): string[] {
  const out = ['README.md'];
  const walk = (dir: string): void => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(path.join(root, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.isFile() && e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  walk('models');
  return out;
}
