// `npm test`'s pretest step: transpiles the TypeScript of src/ and test/ once into .tap/js/, so that test processes
// load JavaScript (test/loader/hooks.mjs) instead of each transpiling the same files again through ts-node.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { isCopyOf, OUT, outFile, ROOT, SOURCES } from './paths.mjs';

/**
 * tsconfig.json's options, transpiled one file at a time as ts-node's transpile-only mode does (types erased, no
 * type check: `npm run check` does that), emitted as ES modules (the package's type) with an inline source map so
 * that stack traces name the .ts lines.
 */
const { config, error } = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
const compilerOptions = {
  ...options,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  declaration: false,
  sourceMap: false,
  inlineSourceMap: true,
  inlineSources: true,
};

const t0 = performance.now();
let written = 0;
for (const top of SOURCES) {
  for (const rel of readdirSync(path.join(ROOT, top), { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
    const src = path.join(ROOT, top, rel);
    const bytes = readFileSync(src);
    const out = outFile(src, bytes);
    if (existsSync(out)) continue; // transpiled from this very content before
    const { outputText } = ts.transpileModule(bytes.toString('utf8'), { compilerOptions, fileName: src });
    const dir = path.dirname(out);
    mkdirSync(dir, { recursive: true });
    // Copies of the file's earlier contents are of no more use.
    for (const name of readdirSync(dir)) if (isCopyOf(path.basename(src), name)) rmSync(path.join(dir, name));
    // Written whole, then renamed into place: a test process reading it meanwhile never sees half a file.
    writeFileSync(`${out}.${process.pid}`, outputText);
    renameSync(`${out}.${process.pid}`, out);
    written++;
  }
}
const s = ((performance.now() - t0) / 1000).toFixed(1);
console.log(`test/loader: transpiled ${written} changed TypeScript files into ${path.relative(ROOT, OUT)}/ in ${s} s`);
