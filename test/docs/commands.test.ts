// The runnable commands of README.md and docs/: every fenced block marked `sh runnable` runs (bash, -e, pipefail),
// every `ts runnable` program type-checks with strict tsc and runs, against a real `mixer serve` of the shipped model
// on a free port; `sh runnable server` starts a server of that file's own. A renamed route or flag fails here.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import ts from 'typescript';
import { type Fence, fences } from '../../src/docs/markdown.js';
import { docFiles } from '../../src/docs/regions.js';
import { BIN } from '../fixtures/cli.js';
import { readyPort, spawnServe } from '../fixtures/serve-process.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const KINDS = ['sh runnable', 'sh runnable server', 'ts runnable'];
const BLOCK_MS = 120_000;

const blocks = new Map<string, Fence[]>();
for (const file of docFiles(ROOT).filter((f) => !f.startsWith('models'))) {
  const all = fences(readFileSync(path.join(ROOT, file), 'utf8'));
  for (const f of all.filter((f) => /\brunnable\b/.test(f.info) && !KINDS.includes(f.info)))
    throw new Error(`${file}:${f.line}: unknown runnable marker "${f.info}"; use one of: ${KINDS.join(', ')}`);
  const runnable = all.filter((f) => KINDS.includes(f.info));
  if (runnable.length) blocks.set(file, runnable);
}

/** Runs a command to its end: exit code and interleaved output. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), BLOCK_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), out: out.slice(-4000) });
    });
  });
}

t.test('the docs have runnable blocks in the pages that show commands', async (t) => {
  for (const f of ['README.md', 'docs/serving.md', 'docs/protocols.md', 'docs/client.md', 'docs/cli.md'])
    t.ok(blocks.has(f), `${f} has runnable blocks`);
  t.ok(
    [...blocks.values()].flat().some((b) => b.info === 'ts runnable'),
    'a TypeScript client example among them',
  );
});

t.test('every runnable block runs against a real server', async (t) => {
  const base = t.testdir({});
  // What the blocks may use: the checkout's models, three images, `npx mixer` as the checkout's build, and curl that
  // fails on an error answer.
  const bin = path.join(base, 'bin');
  mkdirSync(bin);
  const curl = execFileSync('sh', ['-c', 'command -v curl']).toString().trim();
  const shim = (name: string, body: string): void => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  shim(
    'npx',
    `if [ "$1" = mixer ]; then shift; exec '${process.execPath}' '${path.resolve(ROOT, BIN)}' "$@"; fi\n` +
      `echo "doc test: npx $1 is not available here" >&2; exit 127`,
  );
  shim('curl', `exec '${curl}' --fail-with-body -sS "$@"`);
  const images = {
    'cat.jpg': await sharp({ create: { width: 48, height: 40, channels: 3, background: '#a07050' } })
      .jpeg()
      .toBuffer(),
    'cat.png': await sharp({ create: { width: 32, height: 32, channels: 3, background: '#806040' } })
      .png()
      .toBuffer(),
    'ship.png': await sharp({ create: { width: 40, height: 30, channels: 3, background: '#3060c0' } })
      .png()
      .toBuffer(),
  };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${bin}${path.delimiter}${process.env['PATH']}`,
    THREADS: '1',
    WORKERS: '1',
    HOST: '127.0.0.1',
    ORT_DISABLE_TELEMETRY: '1',
  };
  delete env['MIXER_API_KEY'];

  const server = spawnServe([], { env: { WORKERS: '1' } });
  t.teardown(() => void server.child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${await readyPort(server)}`;

  let n = 0;
  for (const [file, list] of blocks) {
    const dir = path.join(base, file.replaceAll('/', '_'));
    mkdirSync(dir);
    symlinkSync(path.join(ROOT, 'models'), path.join(dir, 'models'));
    for (const [name, bytes] of Object.entries(images)) writeFileSync(path.join(dir, name), bytes);
    let fileEnv: NodeJS.ProcessEnv = { ...env, MIXER_URL: url };
    const servers: ChildProcess[] = [];
    for (const b of list) {
      n++;
      const where = `${file}:${b.line} (${b.info})`;
      if (b.info === 'sh runnable server') {
        // Its own process group, so that the server under the shell goes with it.
        const child = spawn('bash', ['-c', b.body], { cwd: dir, env: { ...fileEnv, PORT: '0' }, detached: true });
        servers.push(child);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
        const port = await readyPort({ out: () => out, exit }).catch((e: Error) => t.fail(`${where}: ${e.message}`));
        if (typeof port !== 'number') break;
        fileEnv = { ...fileEnv, MIXER_URL: `http://127.0.0.1:${port}` };
        t.pass(`${where}: serving on ${port}`);
        continue;
      }
      let r: { code: number; out: string };
      if (b.info === 'ts runnable') {
        const src = path.join(dir, `block-${b.line}.mts`);
        writeFileSync(src, b.body);
        const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
        const flags = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--types', 'node'];
        r = await run(process.execPath, [tsc, ...flags, src], dir, fileEnv);
        if (r.code === 0) {
          const js = ts.transpileModule(b.body, {
            compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
          }).outputText;
          writeFileSync(src.replace(/\.mts$/, '.mjs'), js);
          r = await run(process.execPath, [src.replace(/\.mts$/, '.mjs')], dir, fileEnv);
        }
      } else r = await run('bash', ['-e', '-o', 'pipefail', '-c', b.body], dir, fileEnv);
      t.equal(r.code, 0, `${where}: exit 0`, { diagnostic: r.code !== 0, output: r.out, block: b.body });
    }
    for (const s of servers) {
      try {
        process.kill(-s.pid!, 'SIGKILL');
      } catch {}
    }
  }
  t.ok(n >= 10, `${n} runnable blocks ran`);
});
