// The import-boundary lint rules in biome.json fire: probe files that break (and keep) each boundary, linted in a scratch copy.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import t from 'tap';

const BIOME = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');

const ORT = 'Only src/runtime/ imports onnxruntime-node';
const PROTO = 'Only src/onnx/proto.ts imports onnx-proto';
const OUT = 'Nothing under src/ imports test/ or the top-level bench/';
const LOW = 'The lower layers import neither test/, bench/ nor src/bench/';
const ORDER = 'Dependency order onnx -> autodiff -> model';
const CONSUMER = 'bench/ uses the product as a consumer';
const DATA = 'Dependency order data -> {train, server, cli}';
const UTIL = 'src/util/ is the bottom layer';

/** [file the import is written in, module specifier, start of the expected message or null when allowed]. */
const CASES: [file: string, spec: string, want: string | null][] = [
  ['src/server/a.ts', 'onnxruntime-node', ORT],
  ['src/cli/commands/a.ts', 'onnxruntime-node/dist/backend.js', ORT],
  ['test/server/a.test.ts', 'onnxruntime-node', ORT],
  ['bench/a.js', 'onnxruntime-node', ORT],
  ['src/runtime/a.ts', 'onnxruntime-node', null],
  ['src/onnx/a.ts', 'onnx-proto', PROTO],
  ['src/runtime/b.ts', 'onnx-proto', PROTO],
  ['test/onnx/a.test.ts', 'onnx-proto', PROTO],
  ['src/onnx/proto.ts', 'onnx-proto', null],
  ['src/autodiff/a.ts', '../model/config.js', ORDER],
  ['src/autodiff/b.ts', '../train/trainer.js', ORDER],
  ['src/autodiff/c.ts', '../server/app.js', ORDER],
  ['src/autodiff/d.ts', '../cli/main.js', ORDER],
  ['src/autodiff/e.ts', '../onnx/graph.js', null],
  ['src/onnx/b.ts', '../autodiff/index.js', ORDER],
  ['src/onnx/c.ts', '../model/index.js', ORDER],
  ['src/model/a.ts', '../train/trainer.js', ORDER],
  ['src/model/b.ts', '../server/app.js', ORDER],
  ['src/model/c.ts', '../autodiff/index.js', null],
  ['src/model/d.ts', '../../test/fixtures/server.js', LOW],
  ['src/autodiff/f.ts', '../bench/measure.js', LOW],
  ['src/a.ts', '../test/fixtures/cli.js', OUT],
  ['src/a2.ts', '../bench/http.js', OUT],
  ['src/a3.ts', './bench/measure.js', null],
  ['src/server/b.ts', '../../test/fixtures/server.js', OUT],
  ['src/server/c.ts', '../../bench/http.js', OUT],
  ['src/server/d.ts', '../bench/measure.js', null],
  ['src/server/routes/a.ts', '../../../test/fixtures/server.js', OUT],
  ['src/server/routes/b.ts', '../../../bench/http.js', OUT],
  ['src/cli/commands/b.ts', '../../bench/inference.js', null],
  ['src/cli/commands/c.ts', '../../../test/fixtures/png-bombs.js', OUT],
  ['bench/b.ts', '../src/server/config.js', CONSUMER],
  ['bench/c.ts', '../dist/server/config.js', CONSUMER],
  ['bench/d.ts', '#mixer/server/config.js', null],
  ['bench/e.ts', '#mixer/bench/hardware.js', null],
  ['bench/f.ts', '../test/fixtures/png-bombs.js', null],
  ['src/data/a.ts', '../train/epoch.js', DATA],
  ['src/data/b.ts', '../server/app.js', DATA],
  ['src/data/c.ts', '../cli/main.js', DATA],
  ['src/data/d.ts', '../../bench/http.js', LOW],
  ['src/data/e.ts', '../util/progress-bar.js', null],
  ['src/data/f.ts', '../image/decode.js', null],
  ['src/util/a.ts', '../train/epoch.js', UTIL],
  ['src/util/b.ts', '../model/index.js', UTIL],
  ['src/util/c.ts', '../data/folder.js', UTIL],
  ['src/util/d.ts', './rng.js', null],
  ['src/util/e.ts', 'onnx-mixer-client', null],
  ['src/util/f.ts', 'onnxruntime-node', ORT],
];

t.test('each boundary rule fires on a breaking import and stays quiet on an allowed one', async (t) => {
  const dir = t.testdir();
  copyFileSync('biome.json', path.join(dir, 'biome.json'));
  for (const [file, spec] of CASES) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), `import x from '${spec}';\n\nexport default x;\n`);
  }
  // The scratch folder is no git checkout, so Biome's VCS integration is switched off for this run.
  const r = spawnSync(
    process.execPath,
    [BIOME, 'lint', '--vcs-enabled=false', '--only=style/noRestrictedImports', '--reporter=github', '.'],
    { cwd: dir, encoding: 'utf8' },
  );
  t.equal(r.error, undefined, 'biome ran');
  const found = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^::error title=lint\/style\/noRestrictedImports,file=([^,]+),.*::(.*)$/.exec(line);
    if (m) found.set(path.relative(dir, m[1]!), m[2]!);
  }
  for (const [file, spec, want] of CASES) {
    const got = found.get(file);
    if (want === null) t.equal(got, undefined, `${file}: '${spec}' is allowed`);
    else t.ok(got?.startsWith(want), `${file}: '${spec}' is refused (${got ?? 'no diagnostic'})`);
  }
  t.equal(found.size, CASES.filter(([, , want]) => want !== null).length, 'no other diagnostics');
});
