// The page's static files (<package root>/ui/): read once at start, with their ETag, gzip form and a version hash for asset URLs.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** <package root>/ui (this file is three levels below the root in src/ and dist/). */
export const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export interface Asset {
  type: string;
  body: Buffer;
  /** gzip of body, when that is smaller. */
  gzip: Buffer | null;
  etag: string;
  /** The gzip form's own (strong) validator. */
  gzipEtag: string;
}

export interface Assets {
  /** Short content hash of all files: asset URLs are /ui/static/<version>/<file>, so they can be cached forever. */
  version: string;
  /** Pages by name (index.html, model.html), with their asset URLs pointing at the current version. */
  pages: Map<string, Asset>;
  /** Everything else, by file name. */
  files: Map<string, Asset>;
}

export function asset(type: string, body: Buffer): Asset {
  const gz = gzipSync(body, { level: 9 });
  const tag = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  return { type, body, gzip: gz.length < body.length ? gz : null, etag: `"${tag}"`, gzipEtag: `"${tag}-gz"` };
}

/** Reads every file of `dir` (flat; unknown extensions are an error, so nothing unintended is served). */
export function loadAssets(dir = UI_DIR): Assets {
  const raw = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) {
    if (!TYPES[path.extname(name)])
      throw new Error(`ui/${name}: unexpected file type (serve only ${Object.keys(TYPES).join(' ')})`);
    raw.set(name, readFileSync(path.join(dir, name)));
  }
  const all = createHash('sha256');
  for (const [name, body] of raw) all.update(name).update('\0').update(body);
  const version = all.digest('hex').slice(0, 12);
  const pages = new Map<string, Asset>();
  const files = new Map<string, Asset>();
  for (const [name, body] of raw) {
    const type = TYPES[path.extname(name)]!;
    if (name.endsWith('.html'))
      pages.set(
        name,
        asset(type, Buffer.from(body.toString('utf8').replaceAll('/ui/static/', `/ui/static/${version}/`))),
      );
    else files.set(name, asset(type, body));
  }
  return { version, pages, files };
}

/** True when an Accept-Encoding header admits gzip (q > 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((e) => {
    const [coding = '', ...params] = e.trim().toLowerCase().split(';');
    return (
      (coding.trim() === 'gzip' || coding.trim() === '*') && !params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p))
    );
  });
}
