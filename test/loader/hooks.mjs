// Module hooks for test processes: a .ts file of this checkout loads from its transpiled copy under .tap/js when
// there is one for its current content; otherwise (a file edited or added since `npm test` transpiled) ts-node does.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { outFile, ROOT } from './paths.mjs';

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && !url.includes('?') && !url.includes('#') && url.endsWith('.ts')) {
    const src = fileURLToPath(url);
    if (!path.relative(ROOT, src).startsWith('..')) {
      try {
        const source = readFileSync(outFile(src, readFileSync(src)), 'utf8');
        return { format: 'module', source, shortCircuit: true };
      } catch (e) {
        if (e.code !== 'ENOENT') throw e;
      }
    }
  }
  return nextLoad(url, context);
}
