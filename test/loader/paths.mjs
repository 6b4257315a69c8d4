// Where test/loader/transpile.mjs writes each TypeScript file's JavaScript, and the folders it transpiles.
import { createHash } from 'node:crypto';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const OUT = path.join(ROOT, '.tap', 'js');
export const SOURCES = ['src', 'test'];

/**
 * The transpiled copy of `src` (an absolute .ts path inside ROOT) whose content is `bytes`: its relative path under
 * OUT, named with a hash of the content, so that a copy is only ever used for the exact text it came from.
 */
export function outFile(src, bytes) {
  const hash = createHash('sha1').update(bytes).digest('hex').slice(0, 16);
  return path.join(OUT, `${path.relative(ROOT, src)}.${hash}.js`);
}

/** True for the name of a copy of the file named `base` (any content). */
export const isCopyOf = (base, name) =>
  name.startsWith(`${base}.`) && /^\.[0-9a-f]{16}\.js$/.test(name.slice(base.length));
