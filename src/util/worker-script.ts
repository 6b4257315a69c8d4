// Starts a worker thread from the script beside its caller: compiled, or, for callers run from the TypeScript sources (the tests), the up-to-date build in dist/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The newest source file's modification time per source folder, read once per process. */
const newestSource = new Map<string, number>();

/** The newest modification time of any file under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.isFile()) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function sourcesChanged(src: string): number {
  const t = newestSource.get(src) ?? newestMtime(src);
  newestSource.set(src, t);
  return t;
}

/** Flags that install module loaders (a TypeScript loader, test hooks): a compiled script does not need them. */
const LOADER_FLAG = /^--(import|loader|experimental-loader|require)\b|^-r$/;

/** This process's flags without module loaders and their values. */
function withoutLoaders(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (!LOADER_FLAG.test(a)) out.push(a);
    else if (!a.includes('=')) i++; // the value is the next argument
  }
  return out;
}

/**
 * Where the worker script `name` (no extension) beside the module at `callerUrl` (its import.meta.url) is, and the
 * flags it needs. A compiled caller gets the compiled `.js` beside it, with this process's flags. A caller run from
 * `src/` gets `dist/`'s copy when the build is newer than every source file, without the module loaders (starting a
 * worker through the TypeScript loader costs seconds); else the `.ts` source, which needs this process's TS loader.
 */
export function workerScript(callerUrl: string, name: string): { url: URL; execArgv?: string[] } {
  const js = new URL(`./${name}.js`, callerUrl);
  if (existsSync(fileURLToPath(js))) return { url: js };
  const ts = fileURLToPath(new URL(`./${name}.ts`, callerUrl));
  const at = ts.lastIndexOf(`${path.sep}src${path.sep}`);
  if (at >= 0) {
    const root = ts.slice(0, at);
    const src = path.join(root, 'src');
    const built = path.join(root, 'dist', path.relative(src, ts)).replace(/\.ts$/, '.js');
    if (existsSync(built) && statSync(built).mtimeMs >= sourcesChanged(src))
      return { url: pathToFileURL(built), execArgv: withoutLoaders(process.execArgv) };
  }
  return { url: pathToFileURL(ts) };
}

/** A worker thread running the script `name` beside the module at `callerUrl` (see workerScript). */
export function startWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  const { url, execArgv } = workerScript(callerUrl, name);
  return new Worker(url, execArgv ? { ...options, execArgv } : options);
}
