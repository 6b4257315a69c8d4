// Module hooks for test processes: a .ts file of this checkout loads from its transpiled copy under .tap/js when
// that copy is newer than the file; otherwise (a file edited or added since `npm test` transpiled) ts-node loads it.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { outFile, ROOT } from './paths.mjs';

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && !url.includes('?') && !url.includes('#') && url.endsWith('.ts')) {
    const src = fileURLToPath(url);
    if (!path.relative(ROOT, src).startsWith('..')) {
      const out = outFile(src);
      const built = statSync(out, { throwIfNoEntry: false });
      if (built && built.mtimeMs >= statSync(src).mtimeMs) {
        return { format: 'module', source: readFileSync(out, 'utf8'), shortCircuit: true };
      }
    }
  }
  return nextLoad(url, context);
}
