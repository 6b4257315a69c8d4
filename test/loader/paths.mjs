// Where test/loader/transpile.mjs writes each TypeScript file's JavaScript, and the folders it transpiles.
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const OUT = path.join(ROOT, '.tap', 'js');
export const SOURCES = ['src', 'test'];

/** The transpiled file of `src` (an absolute .ts path inside ROOT): same relative path under OUT, ending .js. */
export const outFile = (src) => path.join(OUT, `${path.relative(ROOT, src)}.js`);
