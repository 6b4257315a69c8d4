// The repository's control plane refuses what is not a model: `..` and bad names over a real socket, bad folder names, links out of the repository, FIFOs, devices, and configs the machine cannot hold.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, fails, grpcClient } from '../fixtures/grpc.js';
import { python } from '../fixtures/oracle/torch.js';
import { readyPort, type ServeProcess, spawnServe } from '../fixtures/serve-process.js';
import { buildAppWith, image, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

/** A tiny onnx-mixer model at <root>/<name>/<version>/model.onnx. */
function addModel(root: string, name: string, version: number | string = 1, seed = 1): string {
  const dir = path.join(root, name, String(version));
  mkdirSync(dir, { recursive: true });
  return writeModel(dir, 'tiny', seed, 'model.onnx');
}

interface Row {
  name: string;
  version: string;
  state: string;
  reason: string;
}
const index = async (app: FastifyInstance): Promise<Row[]> =>
  (await app.inject({ method: 'POST', url: '/v2/repository/index' })).json() as Row[];
const row = (rows: Row[], name: string) => rows.find((r) => r.name === name);

/** One request written byte for byte (clients normalise `..` away); its status and JSON body. */
function raw(port: number, method: string, target: string, body = ''): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('error', reject);
    s.on('end', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      const text = rest.join('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1]), json: text ? JSON.parse(text) : null });
    });
    s.write(
      `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${body ? 'Content-Type: application/json\r\n' : ''}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

/** A log stream whose lines are kept. */
function logSink(): { stream: Writable; lines: () => { msg: string; folder?: string; reason?: string }[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

t.test(
  'F5: ".." and other non-names are refused on every route, over a real socket; the index never holds them',
  async (t) => {
    const base = t.testdir();
    const root = path.join(base, 'repo');
    addModel(root, 'tiny');
    // What `..` would have reached: a model-looking parent folder.
    writeFileSync(path.join(base, 'config.json'), '{}');
    addModel(base, '.', 1);
    const app = await buildAppWith({
      modelRepository: root,
      modelControl: 'explicit',
      logger: false,
      threads: 1,
      grpcPort: 0,
      host: '127.0.0.1',
    });
    t.teardown(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as net.AddressInfo).port;
    const invalid = /invalid model name/;
    for (const [method, target] of [
      ['POST', '/v2/repository/models/../load'],
      ['POST', '/v2/repository/models/./load'],
      ['POST', '/v2/repository/models/%2e%2e/load'],
      ['POST', '/v2/repository/models/%2E%2E/unload'],
      ['POST', '/v2/repository/models/a%2Fb/load'],
      ['POST', '/v2/repository/models/..%5C..%5Cetc/load'],
      ['POST', '/v2/repository/models/-x/load'],
      ['GET', '/v2/models/%2e%2e'],
      ['GET', '/v2/models/../ready'],
      ['GET', '/v2/models/%2e%2e/config'],
      ['GET', '/v2/models/%2e%2e/stats'],
      ['GET', '/v2/models/%2e%2e/versions/1'],
      ['GET', '/v1/models/%2e%2e'],
      ['GET', '/v1/model?model=..'],
    ] as const) {
      const r = await raw(port, method, target);
      t.equal(r.status, 400, `${method} ${target}: 400`);
      t.match(r.json, { code: 'BAD_REQUEST', message: invalid }, `${method} ${target}: says the name is invalid`);
    }
    const infer = await raw(
      port,
      'POST',
      '/v2/models/%2e%2e/infer',
      JSON.stringify({
        inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3], data: new Array(3072).fill(0) }],
      }),
    );
    t.equal(infer.status, 400);
    t.match(infer.json, { message: invalid });
    const png = await image('png');
    const classify = await app.inject({
      method: 'POST',
      url: '/classify?model=..',
      headers: { 'content-type': 'image/png' },
      payload: png,
    });
    t.equal(classify.statusCode, 400);
    t.match(classify.json(), { message: invalid });
    const version = await raw(port, 'GET', '/v2/models/tiny/versions/9007199254740993');
    t.equal(version.status, 400);
    t.match(version.json, {
      message: /invalid model version "9007199254740993": a version is a positive integer up to 9007199254740991/,
    });
    t.same(
      (await index(app)).map((r) => r.name),
      ['tiny'],
      'the index holds only the repository model',
    );
    t.equal((await raw(port, 'POST', '/v2/repository/models/tiny/load')).status, 200, 'a real name still loads');

    // gRPC: the same check, as INVALID_ARGUMENT.
    const inference = grpcClient(grpcEndpoint(app)!.port);
    const triton = grpcClient(grpcEndpoint(app)!.port, 'triton');
    t.teardown(() => {
      inference.close();
      triton.close();
    });
    for (const [c, method, req] of [
      [inference, 'ModelMetadata', { name: '..', version: '' }],
      [inference, 'ModelReady', { name: '.', version: '' }],
      [inference, 'ModelInfer', { model_name: '../tiny', model_version: '', inputs: [] }],
      [inference, 'ModelMetadata', { name: 'tiny', version: '01' }],
      [triton, 'ModelStatistics', { name: '..', version: '' }],
    ] as const) {
      const e = await fails(call(c, method, req));
      t.equal(e.code, grpc.status.INVALID_ARGUMENT, `gRPC ${method} ${JSON.stringify(req)}: INVALID_ARGUMENT`);
      t.match(e.details, /invalid model (name|version)/);
    }
  },
);

t.test('the scanner skips folders that are not names or versions, with a logged reason', async (t) => {
  const root = path.join(t.testdir(), 'repo');
  addModel(root, 'good');
  addModel(root, '-dash');
  addModel(root, 'sp ace');
  // Two folders Number() would fold into one version, and a non-canonical one.
  addModel(root, 'good', '9007199254740993', 2);
  mkdirSync(path.join(root, 'good', '9007199254740992'));
  writeModel(path.join(root, 'good', '9007199254740992'), 'tiny', 3, 'model.onnx');
  mkdirSync(path.join(root, 'good', '01'));
  writeModel(path.join(root, 'good', '01'), 'tiny', 4, 'model.onnx');
  const logs = logSink();
  const app = await buildAppWith({ modelRepository: root, logStream: logs.stream, logLevel: 'warn', threads: 1 });
  t.teardown(() => app.close());
  t.same(
    (await index(app)).map((r) => `${r.name}/${r.version}/${r.state}`),
    ['good/1/READY'],
    'only the valid model and version are indexed',
  );
  const skipped = logs.lines().filter((l) => l.msg === 'repository folder skipped');
  t.same(
    skipped.map((l) => path.relative(root, l.folder!)).sort(),
    ['-dash', 'good/01', 'good/9007199254740992', 'good/9007199254740993', 'sp ace'].map((p) => path.normalize(p)),
  );
  t.match(skipped.find((l) => l.folder!.endsWith('01'))!.reason, /a version is a positive integer up to/);
  t.match(skipped.find((l) => l.folder!.endsWith('-dash'))!.reason, /a model name is 1-128 letters/);
});

t.test(
  'links: inside the repository they serve; outside ones (and /dev/zero, procfs) are refused unless allowed, and then only regular files',
  async (t) => {
    const base = t.testdir();
    const root = path.join(base, 'repo');
    const outside = path.join(base, 'outside');
    const outFile = addModel(outside, 'm');
    addModel(root, 'inside');
    mkdirSync(path.join(root, 'linkin', '1'), { recursive: true });
    symlinkSync('../../inside/1/model.onnx', path.join(root, 'linkin', '1', 'model.onnx'));
    symlinkSync(path.join(outside, 'm'), path.join(root, 'linkdir'));
    mkdirSync(path.join(root, 'linkver'));
    symlinkSync(path.join(outside, 'm', '1'), path.join(root, 'linkver', '1'));
    mkdirSync(path.join(root, 'linkfile', '1'), { recursive: true });
    symlinkSync(outFile, path.join(root, 'linkfile', '1', 'model.onnx'));
    mkdirSync(path.join(root, 'zero', '1'), { recursive: true });
    symlinkSync('/dev/zero', path.join(root, 'zero', '1', 'model.onnx'));
    mkdirSync(path.join(root, 'proc', '1'), { recursive: true });
    symlinkSync('/proc/self/status', path.join(root, 'proc', '1', 'model.onnx'));
    const rss0 = process.memoryUsage().rss;

    const closed = await buildAppWith({ modelRepository: root, logger: false, threads: 1 });
    const a = await index(closed);
    await closed.close();
    for (const name of ['inside', 'linkin']) t.equal(row(a, name)?.state, 'READY', `${name} serves`);
    for (const name of ['linkdir', 'linkver', 'linkfile', 'zero', 'proc']) {
      t.equal(row(a, name)?.state, 'UNAVAILABLE', `${name} is unavailable`);
      t.match(
        row(a, name)?.reason,
        /outside the model repository; copy it in, or start with --allow-external-links on/,
      );
    }

    const open = await buildAppWith({ modelRepository: root, allowExternalLinks: 'on', logger: false, threads: 1 });
    const b = await index(open);
    await open.close();
    for (const name of ['inside', 'linkin', 'linkdir', 'linkver', 'linkfile']) t.equal(row(b, name)?.state, 'READY');
    t.equal(row(b, 'zero')?.state, 'UNAVAILABLE');
    t.match(row(b, 'zero')?.reason, /model\.onnx is a character device, not a regular file/);
    t.match(row(b, 'proc')?.reason, /model\.onnx is longer than the 0 bytes its size says/, 'stat is not trusted');
    t.ok(process.memoryUsage().rss - rss0 < 512 * 2 ** 20, 'memory stayed bounded');
  },
);

t.test(
  'F8: a config asking for more threads or memory than the machine has is refused; the model beside it serves',
  async (t) => {
    const root = path.join(t.testdir(), 'repo');
    addModel(root, 'good');
    addModel(root, 'greedy');
    writeFileSync(path.join(root, 'greedy', 'config.json'), JSON.stringify({ instances: 64, threads: 4096 }));
    {
      // An image classifier with dynamic height and width: config.json's "size" decides its input.
      const script = [
        'import sys, onnx',
        'from onnx import helper, TensorProto as T',
        "x = helper.make_tensor_value_info('x', T.FLOAT, ['N', 3, 'H', 'W'])",
        "y = helper.make_tensor_value_info('y', T.FLOAT, ['N', 3])",
        "g = helper.make_graph([helper.make_node('GlobalAveragePool', ['x'], ['p']), helper.make_node('Flatten', ['p'], ['y'])], 'g', [x], [y])",
        "onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), sys.argv[1])",
      ].join('\n');
      for (const [name, size] of [
        ['huge', [16384, 16384]],
        ['sized', [64, 64]],
      ] as const) {
        mkdirSync(path.join(root, name, '1'), { recursive: true });
        await python(['-c', script, path.join(root, name, '1', 'model.onnx')]);
        writeFileSync(path.join(root, name, 'config.json'), JSON.stringify({ size, max_batch_size: 64 }));
      }
    }
    const app = await buildAppWith({ modelRepository: root, logger: false, threads: 1 });
    t.teardown(() => app.close());
    const rows = await index(app);
    t.equal(row(rows, 'good')?.state, 'READY');
    t.equal(row(rows, 'greedy')?.state, 'UNAVAILABLE');
    t.match(
      row(rows, 'greedy')?.reason,
      /config\.json: "instances" 64 × "threads" 4096 = 262144 ORT threads, over this machine's limit of \d+ \(4 per core × \d+ cores from os\.availableParallelism\(\)/,
    );
    t.equal(row(rows, 'huge')?.state, 'UNAVAILABLE');
    t.match(
      row(rows, 'huge')?.reason,
      /config\.json: 1 instance\(s\) need about \d+ MiB \(model \d+ MiB, a batch of 64 16384x16384x3 images being 196608 MiB of input\), over the \d+ MiB left of the memory limit/,
    );
    t.match(row(rows, 'huge')?.reason, /(os\.totalmem|memory\.max)/);
    t.equal(row(rows, 'sized')?.state, 'READY', 'a sane size on the same graph serves');
    const r = await app.inject({ method: 'GET', url: '/v2/models/greedy/ready' });
    t.equal(r.statusCode, 503);
  },
);

/** `mixer serve` from sources as a child process, its output kept. */
function serve(args: string[]): ServeProcess {
  return spawnServe(args, { fromSources: true, env: { WORKERS: '1' } });
}

/** Resolves with the exit code, or null when the process is still running after `ms` (then it is killed). */
async function exitWithin(
  p: { child: ChildProcess; exit: Promise<number | null> },
  ms: number,
): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  const code = await Promise.race([p.exit, late]);
  clearTimeout(timer);
  if (code === null && p.child.exitCode === null) {
    p.child.kill('SIGKILL');
    await p.exit;
    return null;
  }
  return code;
}

t.test(
  'F7: a FIFO model or labels file is unavailable at once; poll rescans go on; SIGTERM exits promptly',
  async (t) => {
    const root = path.join(t.testdir(), 'repo');
    addModel(root, 'good');
    mkdirSync(path.join(root, 'a-fifo', '1'), { recursive: true });
    execFileSync('mkfifo', [path.join(root, 'a-fifo', '1', 'model.onnx')]);
    addModel(root, 'b-labels');
    execFileSync('mkfifo', [path.join(root, 'b-labels', 'labels.txt')]);
    const s = serve([
      '--model-repository',
      root,
      '--model-control',
      'poll',
      '--poll-interval-ms',
      '100',
      '--shutdown-timeout-ms',
      '5000',
    ]);
    t.teardown(() => void s.child.kill('SIGKILL'));
    const port = await readyPort(s);
    t.pass('the server starts beside the FIFOs');
    const url = `http://127.0.0.1:${port}`;
    const rows = async () => (await (await fetch(`${url}/v2/repository/index`, { method: 'POST' })).json()) as Row[];
    t.equal((await fetch(`${url}/v2/models/good/ready`)).status, 200, 'the good model serves');
    const first = await rows();
    t.match(row(first, 'a-fifo'), { state: 'UNAVAILABLE', reason: /model\.onnx is a FIFO, not a regular file/ });
    t.match(row(first, 'b-labels'), { state: 'UNAVAILABLE', reason: /labels\.txt is a FIFO, not a regular file/ });

    // A FIFO appearing later does not stall the rescans: a model added after it still comes up.
    mkdirSync(path.join(root, 'c-fifo', '1'), { recursive: true });
    execFileSync('mkfifo', [path.join(root, 'c-fifo', '1', 'model.onnx')]);
    await until(
      async () => row(await rows(), 'c-fifo')?.state === 'UNAVAILABLE',
      20_000,
      'the new FIFO to be indexed',
      50,
    );
    t.pass('the new FIFO is indexed');
    addModel(root, 'later');
    await until(
      async () => (await fetch(`${url}/v2/models/later/ready`)).status === 200,
      20_000,
      'the model added after the FIFO to be served',
      50,
    );
    t.pass('a model added after the FIFO is served');

    const t0 = Date.now();
    s.child.kill('SIGTERM');
    t.equal(await exitWithin(s, 15_000), 0, 'SIGTERM: exit 0, not "shutdown timed out"');
    t.ok(Date.now() - t0 < 5000, `exited in ${Date.now() - t0} ms, within the shutdown timeout`);
    t.notMatch(s.out(), /shutdown timed out/);
  },
);

t.test(
  'single model: a FIFO or a device fails at start with one line; an oversized --max-model-bytes is a user error',
  async (t) => {
    const dir = t.testdir();
    const fifo = path.join(dir, 'fifo.onnx');
    execFileSync('mkfifo', [fifo]);
    const a = serve(['--model', fifo]);
    t.equal(await exitWithin(a, 30_000), 2);
    t.match(a.out(), /^mixer: .*fifo\.onnx is a FIFO, not a regular file/m);
    const b = serve(['--model', '/dev/zero']);
    t.equal(await exitWithin(b, 30_000), 2);
    t.match(b.out(), /^mixer: \/dev\/zero is a character device, not a regular file/m);
    const c = serve(['--model', fifo, '--max-model-bytes', '8gb']);
    t.equal(await exitWithin(c, 30_000), 2);
    t.match(c.out(), /^mixer: --max-model-bytes must be at most 4294967296, got 8589934592$/m);
  },
);
