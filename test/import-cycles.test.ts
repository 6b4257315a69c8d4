// No import cycle between src/ modules: a depth-first walk over the static imports (type-only ones included).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

/** `import … from '…'`, `import type …`, `export … from '…'` and bare `import '…'`, over several lines too; not `import()`. */
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?:[^'";]*?\bfrom\s*)?['"]([^'"]+)['"]/gm;

/** Each .ts file under root (relative to it, `/`-separated) and the files of root it imports statically. */
function importGraph(root: string): Map<string, string[]> {
  const files = (readdirSync(root, { recursive: true }) as string[])
    .map((f) => f.split(path.sep).join('/'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps: string[] = [];
    for (const m of readFileSync(path.join(root, file), 'utf8').matchAll(STATIC_IMPORT)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) continue;
      const target = path.posix.join(path.posix.dirname(file), spec).replace(/\.js$/, '.ts');
      if (known.has(target)) deps.push(target);
      else if (known.has(`${target}/index.ts`)) deps.push(`${target}/index.ts`);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Every back edge the walk meets, as the cycle it closes (`a.ts -> b.ts -> a.ts`). */
function cycles(graph: Map<string, string[]>): string[] {
  const onPath: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const found: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    onPath.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') found.push([...onPath.slice(onPath.indexOf(dep)), dep].join(' -> '));
      else if (!state.has(dep)) visit(dep);
    }
    onPath.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

t.test('the walk finds a cycle made of type-only and multi-line imports, and none without one', async (t) => {
  const dir = t.testdir({
    a: {
      'graph.ts': "import type { OpType } from './ops.js';\n\nexport type G = OpType;\n",
      'ops.ts': "import {\n  type G,\n} from './graph.js';\n\nexport type OpType = 'Add';\nexport type H = G;\n",
    },
    'c.ts': "import './b/index.js';\n",
    b: { 'index.ts': "export * from '../a/ops.js';\n" },
  });
  t.strictSame(cycles(importGraph(dir)), ['a/graph.ts -> a/ops.ts -> a/graph.ts']);
  writeFileSync(path.join(dir, 'a/graph.ts'), 'export type G = string;\n');
  t.strictSame(cycles(importGraph(dir)), []);
});

t.test('no two src/ modules import each other, directly or around a loop', async (t) => {
  const graph = importGraph('src');
  t.ok(graph.size > 100, `walked ${graph.size} modules`);
  t.ok(graph.get('onnx/ops.ts')?.includes('onnx/graph.ts'), 'sees the imports');
  t.strictSame(cycles(graph), []);
});
