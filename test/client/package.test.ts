// The onnx-mixer-client package as a stranger gets it: `npm pack`, installed offline into an empty folder with a bare
// environment (no warnings, no install scripts, under 1 MB), a strict TypeScript program compiled against it, run
// against a real server on a loopback port.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { listenLocal } from '../fixtures/listen.js';
import { image, noise, testApp, writeModel } from '../fixtures/server.js';

const root = path.resolve(import.meta.dirname, '../..');
const pkgDir = path.join(root, 'packages/client');
const TSC = path.join(root, 'node_modules/typescript/bin/tsc');

/** Total bytes of the files under dir. */
function diskBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += statSync(path.join(e.parentPath, e.name)).size;
  return n;
}

const work = mkdtempSync(path.join(os.tmpdir(), 'client-pack-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
// Only what any shell has: no npm_config_*, no ONNXRUNTIME_* or proxy settings from this test run.
const bare = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work };

// --ignore-scripts: its prepack would rebuild packages/client/dist/ in place, under the test files that import it at
// the same time (tap runs files in parallel); npm test has built it from the same sources just before.
const packed = JSON.parse(
  execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
    cwd: pkgDir,
    encoding: 'utf8',
    env: bare,
  }),
) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
const tarball = path.join(work, packed[0]!.filename);

t.test('the tarball holds the compiled client, its declarations, README and package.json only', async (t) => {
  const files = packed[0]!.files.map((f) => f.path).sort();
  t.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'entry point and its types');
  t.same(
    files.filter((f) => !/^dist\/[a-z]+\.(js|d\.ts)$/.test(f)),
    ['README.md', 'package.json'],
    'nothing else',
  );
  const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
  t.equal(manifest['name'], 'onnx-mixer-client');
  t.equal(manifest['type'], 'module');
  t.same(manifest['engines'], { node: '>=20.15' });
  t.notOk(manifest['dependencies'], 'no runtime dependencies');
  t.notOk(manifest['peerDependencies'], 'no peer dependencies (no gRPC part)');
  const scripts = Object.keys((manifest['scripts'] as Record<string, string> | undefined) ?? {});
  t.same(
    scripts.filter((s) => /^(pre|post)?install$|^prepare$/.test(s)),
    [],
    'no install scripts',
  );
  t.equal(
    (manifest['scripts'] as Record<string, string>)['prepack'],
    'tsc -p tsconfig.json',
    "a publisher's npm pack builds dist/ from src/ first",
  );
});

const consumer = path.join(work, 'consumer');
mkdirSync(consumer);
writeFileSync(path.join(consumer, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
const started = performance.now();
const install = spawnSync(
  'npm',
  ['install', '--offline', '--no-audit', '--no-fund', '--cache', path.join(work, 'npm-cache'), tarball],
  { cwd: consumer, encoding: 'utf8', env: bare },
);
const installMs = performance.now() - started;
const installed = path.join(consumer, 'node_modules/onnx-mixer-client');

t.test('installs offline into an empty folder with no environment: no warnings, under 1 MB', async (t) => {
  t.equal(install.status, 0, `npm install exits 0 (stderr: ${install.stderr})`);
  // npm may add its own "new version of npm available" notice; anything else on stderr is a finding.
  const notices = /^npm notice( New .* version of npm available.*| Changelog: .*| To update run: .*)?$/;
  t.same(
    install.stderr.split('\n').filter((l) => l.trim() !== '' && !notices.test(l.trim())),
    [],
    "nothing on stderr but npm's own update notice",
  );
  t.notMatch(install.stdout + install.stderr, /warn|ERR/i, 'no warnings');
  t.match(install.stdout, /added 1 package/, 'one package, nothing else');
  const bytes = diskBytes(installed);
  t.ok(bytes < 1024 * 1024, `${bytes} bytes on disk < 1 MB`);
  t.same(readdirSync(path.join(consumer, 'node_modules')).sort(), ['.package-lock.json', 'onnx-mixer-client']);
  t.comment(`tarball ${packed[0]!.size} B, installed ${bytes} B, npm install ${Math.round(installMs)} ms`);
});

t.test('a strict TypeScript program compiles against it and classifies an image on a real server', async (t) => {
  writeFileSync(
    path.join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules/@types')],
      },
      files: ['classify.ts'],
    }),
  );
  writeFileSync(
    path.join(consumer, 'classify.ts'),
    `import { Client, MixerError, type ClassifyResult } from 'onnx-mixer-client';

const [baseUrl, file] = process.argv.slice(2);
const client = new Client({ baseUrl: baseUrl!, timeoutMs: 20_000 });
const ready: boolean = await client.ready();
const r: ClassifyResult = await client.classify(file!, { top: 3 });
const missing = await client.classify(file!, { model: 'no-such-model' }).catch((e: unknown) => e);
const code = missing instanceof MixerError ? missing.code : 'not a MixerError';
console.log(JSON.stringify({ ready, model: r.model.name, predictions: r.results[0]!.predictions, code }));
`,
  );
  const tsc = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8' });
  t.equal(tsc.status, 0, `strict tsc compiles it: ${tsc.stdout}${tsc.stderr}`);
  // The declarations carry the types: a wrong option type in a consumer does not compile.
  writeFileSync(
    path.join(consumer, 'wrong.ts'),
    "import { Client } from 'onnx-mixer-client';\nnew Client({ retries: 'x' });\n",
  );
  writeFileSync(path.join(consumer, 'tsconfig.wrong.json'), '{ "extends": "./tsconfig.json", "files": ["wrong.ts"] }');
  const bad = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.wrong.json', '--noEmit'], {
    cwd: consumer,
    encoding: 'utf8',
  });
  t.match(bad.stdout, /wrong\.ts\(2,\d+\): error TS2322/, 'the declarations reject a wrong option type');

  const app = await testApp(t, { modelPath: writeModel(t.testdir()), maxBatch: 4 });
  const { url: baseUrl } = await listenLocal(app);
  const png = await image('png', 32, 32, noise(32, 32, 21));
  writeFileSync(path.join(consumer, 'cat.png'), png);
  // Asynchronously: the server answers from this process's event loop.
  const run = await promisify(execFile)(process.execPath, ['classify.js', baseUrl, 'cat.png'], {
    cwd: consumer,
    encoding: 'utf8',
    env: bare,
    timeout: 60_000,
  });
  const out = JSON.parse(run.stdout) as {
    ready: boolean;
    model: string;
    predictions: { label: string; probability: number }[];
    code: string;
  };
  t.equal(out.ready, true);
  t.equal(out.model, 'mixer-test');
  const form = new FormData();
  form.append('image', new Blob([png]), 'cat.png');
  const ref = (await (await fetch(`${baseUrl}/classify?top=3`, { method: 'POST', body: form })).json()) as {
    results: { predictions: { label: string; probability: number }[] }[];
  };
  t.same(
    out.predictions.map((p) => p.label),
    ref.results[0]!.predictions.map((p) => p.label),
    'the same top-3 labels as a hand-made upload',
  );
  t.equal(out.code, 'MODEL_NOT_FOUND', 'server errors arrive as MixerError with the server code');
});
