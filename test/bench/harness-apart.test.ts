// The benchmark harnesses live apart from the product: src/bench/ holds only what `mixer bench` runs, the npm-script benchmarks run from bench/.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

/** Relative module specifiers (static and dynamic imports) of a TypeScript file, resolved to .ts paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => path.join(path.dirname(file), s).replace(/\.js$/, '.ts'));
}

t.test('every module under src/bench/ is reached from the mixer bench command', async (t) => {
  const reached = new Set<string>();
  const todo = ['src/cli/commands/bench.ts'];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    for (const dep of relativeImports(file)) if (dep.startsWith('src/bench/')) todo.push(dep);
  }
  const modules = readdirSync('src/bench')
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `src/bench/${f}`);
  t.ok(modules.length > 0, 'src/bench/ holds the mixer bench modules');
  for (const m of modules) t.ok(reached.has(m), `${m} is part of mixer bench (a harness belongs in bench/)`);
});

t.test('the npm benchmark scripts run the compiled bench/ harnesses', async (t) => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  const names = ['bench:http', 'bench:grpc', 'bench:repo', 'bench:attacks', 'bench:grpc-attacks', 'loadtest'];
  for (const name of names) {
    const m = /^node dist-bench\/bench\/([\w-]+)\.js$/.exec(pkg.scripts[name] ?? '');
    t.ok(m, `${name} runs node dist-bench/bench/<harness>.js (${pkg.scripts[name]})`);
    if (m) t.ok(readdirSync('bench').includes(`${m[1]}.ts`), `${name}: bench/${m[1]}.ts exists`);
  }
  t.match(
    pkg.scripts['prepare'],
    /tsc -p tsconfig\.json && tsc -p bench\/tsconfig\.json/,
    'prepare compiles bench/ after dist/',
  );
  t.equal(pkg.scripts['build:bench'], 'tsc -p bench/tsconfig.json', 'build:bench compiles bench/');
});
