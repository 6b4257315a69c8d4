// Which script a worker thread starts from: compiled beside its caller, the fresh build for callers in src/, or the .ts source.
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { startWorker, workerScript } from '../../src/util/worker-script.js';

const JOB = "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage(process.execArgv);\n";

/** A project: src/pkg/{caller,job}.ts and, when `distAge` is given, dist/pkg/{caller,job}.js; ages in seconds. */
function project(t: Test, srcAge: number, distAge?: number): string {
  const root = t.testdir({ 'package.json': '{ "type": "module" }' });
  const file = (rel: string, text: string, ageS: number): void => {
    const p = path.join(root, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, text);
    const when = new Date(Date.now() - ageS * 1000);
    utimesSync(p, when, when);
  };
  file('src/pkg/caller.ts', '', srcAge);
  file('src/pkg/job.ts', JOB, srcAge);
  if (distAge !== undefined) {
    file('dist/pkg/caller.js', '', distAge);
    file('dist/pkg/job.js', JOB, distAge);
  }
  return root;
}

const href = (root: string, rel: string): string => pathToFileURL(path.join(root, rel)).href;
const isLoaderFlag = (a: string): boolean => /^--(import|loader|experimental-loader|require)\b/.test(a);

t.test('a compiled caller gets the compiled script beside it, with this process flags', async (t) => {
  const root = project(t, 100, 10);
  const w = workerScript(href(root, 'dist/pkg/caller.js'), 'job');
  t.equal(w.url.href, href(root, 'dist/pkg/job.js'));
  t.equal(w.execArgv, undefined, 'inherits execArgv');
});

t.test('a caller in src/ gets the build when it is newer than every source, without module loaders', async (t) => {
  const root = project(t, 100, 10);
  const w = workerScript(href(root, 'src/pkg/caller.ts'), 'job');
  t.equal(w.url.href, href(root, 'dist/pkg/job.js'));
  t.ok(w.execArgv, 'own execArgv');
  t.notOk(w.execArgv?.some(isLoaderFlag), 'no loader flags');
  t.ok(
    w.execArgv?.every((a) => process.execArgv.includes(a)),
    'only flags of this process',
  );
  if (process.execArgv.includes('--enable-source-maps')) t.ok(w.execArgv?.includes('--enable-source-maps'));

  const worker = startWorker(href(root, 'src/pkg/caller.ts'), 'job');
  const argv = await new Promise<string[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  t.same(argv, w.execArgv, 'the worker runs the build with those flags');
});

t.test('a stale or missing build: the .ts source (through the TS loader of this process)', async (t) => {
  const stale = project(t, 10, 100);
  t.same(workerScript(href(stale, 'src/pkg/caller.ts'), 'job'), {
    url: new URL(href(stale, 'src/pkg/job.ts')),
  });
  const unbuilt = project(t, 10);
  t.same(workerScript(href(unbuilt, 'src/pkg/caller.ts'), 'job'), {
    url: new URL(href(unbuilt, 'src/pkg/job.ts')),
  });
});
