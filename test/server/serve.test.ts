// `mixer serve` as a process: config errors, --device cuda fail-fast and auto fallback, and a graceful SIGTERM that finishes in-flight work.
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { cudaProviderInstalled, RuntimeError } from '../../src/runtime/session.js';
import { readyPort, type ServeProcess, spawnServe } from '../fixtures/serve-process.js';
import { buildAppWith, image, multipart, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const modelPath = writeModel(t.testdir());

function serve(args: string[], env: Record<string, string> = {}): ServeProcess {
  return spawnServe(args, { fromSources: true, env: { MODEL_PATH: modelPath, ...env } });
}

t.test('invalid settings fail at start with one clear line', async (t) => {
  const a = serve([], { MAX_BATCH: 'lots' });
  t.equal(await a.exit, 2);
  t.equal(a.out().trim(), 'mixer: MAX_BATCH must be an integer, got "lots"');
  const b = serve(['--port', '70000']);
  t.equal(await b.exit, 2);
  t.equal(b.out().trim(), 'mixer: --port must be at most 65535, got 70000');
  const c = serve(['--model', path.join(t.testdirName, 'missing.onnx')]);
  t.equal(await c.exit, 2);
  t.match(c.out(), /cannot read model .*missing\.onnx: ENOENT/);
});

t.test(
  '--device cuda fails fast naming the fix; auto falls back to the CPU with a warning',
  { skip: cudaProviderInstalled() && 'the CUDA provider is installed here' },
  async (t) => {
    const e = await buildAppWith({ modelPath, device: 'cuda', logger: false }).then(
      () => null,
      (err: unknown) => err,
    );
    t.type(e, RuntimeError);
    t.equal((e as RuntimeError).code, 'CUDA_UNAVAILABLE');
    t.match((e as Error).message, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
    t.match((e as Error).message, /CUDA 12 and cuDNN 9/);
    const cli = serve(['--device', 'cuda']);
    t.equal(await cli.exit, 2);
    t.match(cli.out(), /^mixer: .*ONNXRUNTIME_NODE_INSTALL=cuda12/m);

    const auto = serve(['--device', 'auto']);
    const port = await readyPort(auto);
    const model = (await (await fetch(`http://127.0.0.1:${port}/v1/model`)).json()) as { provider: string };
    t.equal(model.provider, 'cpu');
    t.match(auto.out(), /"level":40,[^\n]*CUDA execution provider is unavailable, running on the CPU/);
    auto.child.kill('SIGTERM');
    t.equal(await auto.exit, 0);
  },
);

t.test('SIGTERM with no drain delay: stop accepting, finish the request in flight, exit 0', async (t) => {
  const s = serve([], { DRAIN_DELAY_MS: '0' });
  const port = await readyPort(s);
  const { payload, headers } = multipart([{ filename: 'slow.png', type: 'image/png', data: await image('png') }]);
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let response = '';
  sock.on('data', (d) => (response += d.toString()));
  const ended = new Promise((r) => sock.once('close', r));
  // Headers and half the body now; the rest after the signal. `Expect: 100-continue` makes the server say when it has
  // read the headers: from then on the request is in flight.
  sock.write(
    `POST /classify?top=1 HTTP/1.1\r\nHost: x\r\nContent-Type: ${headers['content-type']}\r\nContent-Length: ${payload.length}\r\nExpect: 100-continue\r\n\r\n`,
  );
  sock.write(payload.subarray(0, payload.length >> 1));
  const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
  await until(() => response.startsWith(CONTINUE), 10_000, 'the server to read the headers');
  s.child.kill('SIGTERM');
  await until(() => /shutting down/.test(s.out()), 10_000, 'shutdown to start');
  const refused = () =>
    new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        r(false);
      });
      c.once('error', () => r(true));
    });
  await until(refused, 5000, 'new connections to be refused', 20);
  t.pass('new connections are refused once shutdown starts');
  sock.write(payload.subarray(payload.length >> 1));
  const code = await s.exit;
  await ended;
  t.match(response.slice(CONTINUE.length), /^HTTP\/1\.1 200/, 'the in-flight request completed');
  t.match(response, /"filename":"slow\.png"/);
  t.equal(code, 0, `exit 0\n${s.out()}`);
  t.match(s.out(), /shutting down/);
});
