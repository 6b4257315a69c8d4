// `npm run test:times [-- tap flags]`: runs the suite as `npm test` does and prints its wall time, tap's assertion
// summary, the slowest files and the sum of all files' times (compare `-- --jobs=1` with the configured jobs).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(ROOT, '.tap', 'test-results');
const TOP = 15;

rmSync(RESULTS, { recursive: true, force: true });
const t0 = performance.now();
// npm test's last pretest step (it assumes dist/ is built): the test processes load the transpiled TypeScript.
const transpile = spawnSync(process.execPath, [path.join(ROOT, 'test', 'loader', 'transpile.mjs')], {
  stdio: 'inherit',
});
if (transpile.status !== 0) process.exit(transpile.status ?? 1);
const run = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'tap'), ['--reporter=terse', ...process.argv.slice(2)], {
  cwd: ROOT,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 256 << 20,
});
const wallS = (performance.now() - t0) / 1000;
process.stdout.write(run.stdout ?? '');

/** Each file's time from its saved TAP output (tap writes .tap/test-results/<file>.tap, ending with `# time=`). */
const files = readdirSync(RESULTS, { recursive: true })
  .filter((f) => f.endsWith('.tap'))
  .map((f) => {
    const m = /# time=([\d.]+)ms\s*$/.exec(readFileSync(path.join(RESULTS, f), 'utf8'));
    return { file: f.replace(/\.tap$/, ''), s: m ? Number(m[1]) / 1000 : Number.NaN };
  })
  .sort((a, b) => b.s - a.s);
const sumS = files.reduce((n, f) => n + (Number.isNaN(f.s) ? 0 : f.s), 0);

const lines = [`slowest ${TOP} of ${files.length} files:`];
for (const f of files.slice(0, TOP)) lines.push(`${f.s.toFixed(1).padStart(8)} s  ${f.file}`);
lines.push(`sum of per-file times: ${sumS.toFixed(1)} s`);
lines.push(`wall time: ${wallS.toFixed(1)} s`);
// The terse reporter redraws its summary while it runs: the last one is the final count.
const asserts = (run.stdout ?? '').match(/^Asserts:.*$/gm)?.at(-1);
lines.push(asserts ? asserts.replace(/\s+/g, ' ') : 'no assertion summary (see above)');
process.stdout.write(`\n${lines.join('\n')}\n`);
process.exitCode = run.status ?? 1;
