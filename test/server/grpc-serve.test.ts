// `mixer serve` with GRPC_PORT as a process: gRPC answers beside HTTP, a taken port fails the start with one line, SIGTERM drains and closes the gRPC port.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { call, grpcClient } from '../fixtures/grpc.js';
import { readyPort } from '../fixtures/serve-process.js';
import { noise, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const modelPath = writeModel(t.testdir());
/** The compiled CLI (`npm test` builds dist/ first): starting it does not compile TypeScript again. */
const CLI = path.join(ROOT, 'dist/cli/main.js');

function serve(env: Record<string, string>): {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MODEL_PATH: modelPath, THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err, exit: new Promise((r) => child.once('exit', (code) => r(code))) };
}

/** A port that is free now (a listener opened and closed), or one held open by `hold`. */
async function port(hold = false): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as net.AddressInfo).port;
  if (!hold) await new Promise((r) => srv.close(r));
  return { port: p, close: () => srv.close() };
}

t.test('a taken GRPC_PORT stops the start with one line on stderr and exit 2', async (t) => {
  const taken = await port(true);
  t.teardown(taken.close);
  const s = serve({ GRPC_PORT: String(taken.port) });
  t.equal(await s.exit, 2);
  t.match(
    s.err().trim(),
    new RegExp(`^mixer: cannot listen for gRPC on 127\\.0\\.0\\.1:${taken.port}: .*EADDRINUSE[^\\n]*$`),
  );
});

t.test('GRPC_PORT serves gRPC beside HTTP; SIGTERM finishes the call in flight and closes the port', async (t) => {
  const { port: grpcPort } = await port();
  const s = serve({ GRPC_PORT: String(grpcPort), BATCH_DELAY_MS: '300', MAX_BATCH: '8' });
  t.teardown(() => {
    if (s.child.exitCode === null) s.child.kill('SIGKILL');
  });
  const httpPort = await readyPort({ out: () => s.out() + s.err(), exit: s.exit }, 30_000);
  t.match(s.out(), new RegExp(`"grpcPort":${grpcPort}`), 'logs the gRPC port');
  const c = grpcClient(grpcPort);
  t.teardown(() => c.close());
  t.same(await call(c, 'ServerReady'), { ready: true });
  // Queued for 300 ms (batch delay) when SIGTERM arrives: it must still be answered.
  const inflight = call(c, 'ModelInfer', {
    model_name: 'mixer-test',
    inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 32, 32, 3] }],
    raw_input_contents: [noise(32, 32, 4)],
  });
  inflight.catch(() => {}); // awaited below; a failure while waiting is reported there
  await until(
    async () => /\nmixer_images_in_flight 1\n/.test(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()),
    10_000,
    'the call to be queued',
  );
  s.child.kill('SIGTERM');
  const res = (await inflight) as { outputs: { name: string }[] };
  t.same(
    res.outputs.map((o) => o.name),
    ['logits', 'probabilities'],
    'the call in flight was answered',
  );
  t.equal(await s.exit, 0, 'exit 0 after the drain');
  const after = await call(c, 'ServerLive').then(
    () => null,
    (e: grpc.ServiceError) => e.code,
  );
  t.equal(after, grpc.status.UNAVAILABLE, 'the gRPC port is closed');
});
