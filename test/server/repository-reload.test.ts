// Hot reload under load: poll mode adds, replaces and removes versions while clients keep classifying (zero failed requests); explicit load/unload.
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { listenLocal } from '../fixtures/listen.js';
import { buildAppWith, image, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

/** Writes a tiny onnx-mixer model as DIR/<version>/model.onnx through a rename, as a deployment would. */
function addVersion(dir: string, version: number, seed: number): void {
  const staging = path.join(dir, `.staging-${version}`);
  mkdirSync(staging, { recursive: true });
  writeModel(staging, 'tiny', seed, 'model.onnx');
  renameSync(staging, path.join(dir, String(version)));
}

t.test('poll: add a version, remove the old one, replace a file in place — under load, no request fails', async (t) => {
  const root = path.join(t.testdir(), 'repo');
  const dir = path.join(root, 'tiny');
  addVersion(dir, 1, 1);
  const app = await buildAppWith({
    modelRepository: root,
    modelControl: 'poll',
    pollIntervalMs: 100,
    logger: false,
    threads: 1,
    maxBatch: 4,
  });
  t.teardown(() => app.close());
  const { url } = await listenLocal(app);
  const png = await image('png');

  let stop = false;
  const deadline = Date.now() + 60_000;
  const seen: { version: string; sha256: string }[] = [];
  const failures: string[] = [];
  let total = 0;
  const client = async () => {
    while (!stop && Date.now() < deadline && total < 20_000) {
      total++;
      try {
        const r = await fetch(`${url}/classify?model=tiny`, {
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          body: png,
        });
        const j = (await r.json()) as { model?: { version: string; sha256: string }; message?: string };
        if (r.status !== 200) failures.push(`${r.status} ${j.message}`);
        else seen.push(j.model!);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  const clients = Array.from({ length: 4 }, client);
  /** Waits (bounded) until one of the latest answers satisfies `ok`. */
  const served = async (what: string, ok: (m: { version: string; sha256: string }) => boolean) => {
    const start = seen.length;
    await until(() => seen.slice(Math.max(start, seen.length - 4)).some(ok), 30_000, what, 50).catch((e: Error) =>
      t.fail(e.message),
    );
  };
  // Version 1 takes traffic before anything changes.
  await until(() => seen.length >= 8 || failures.length > 0, 30_000, 'the clients to be served');
  const sha1 = seen.at(-1)?.sha256;
  t.equal(seen.at(-1)?.version, '1');
  addVersion(dir, 2, 2);
  await served('version 2 to take traffic', (m) => m.version === '2');
  rmSync(path.join(dir, '1'), { recursive: true });
  const listed = async () =>
    ((await app.inject({ method: 'POST', url: '/v2/repository/index' })).json() as { version: string }[]).some(
      (r) => r.version === '1',
    );
  await until(async () => !(await listed()), 10_000, 'version 1 to leave the index', 50).catch(() => {});
  t.notOk(
    ((await app.inject({ method: 'POST', url: '/v2/repository/index' })).json() as { version: string }[]).some(
      (r) => r.version === '1',
    ),
    'version 1 is gone from the index',
  );
  const sha2 = seen.at(-1)!.sha256;
  // In place: a new file renamed over version 2's model.onnx.
  writeModel(path.join(dir, '2'), 'tiny', 3, 'model.onnx.next');
  renameSync(path.join(dir, '2', 'model.onnx.next'), path.join(dir, '2', 'model.onnx'));
  await served('the replaced file to take traffic', (m) => m.sha256 !== sha2);
  // Traffic goes on after the last swap: a few more answers, then stop.
  const after = seen.length + failures.length;
  await until(() => seen.length + failures.length >= after + 8, 30_000, 'more answers after the last swap');
  stop = true;
  await Promise.all(clients);
  t.same(failures, [], `${total} requests, none failed`);
  t.ok(total > 20, `${total} requests during the swaps`);
  t.ok(new Set(seen.map((m) => m.sha256)).size === 3 && sha1 !== sha2, 'three model files served in turn');
  for (const s of app.mixer.repo.swaps) {
    t.comment(
      `${s.kind} ${s.name}/${s.version}: load ${s.loadMs.toFixed(0)} ms, warm ${s.warmupMs.toFixed(0)} ms, switch ${s.switchMs.toFixed(3)} ms, drain ${s.drainMs === null ? '-' : s.drainMs.toFixed(0)} ms`,
    );
  }
});

t.test(
  'explicit: unload makes a model unavailable after draining, load brings it back; other modes refuse',
  async (t) => {
    const root = path.join(t.testdir(), 'repo');
    addVersion(path.join(root, 'tiny'), 1, 1);
    const app = await buildAppWith({
      modelRepository: root,
      modelControl: 'explicit',
      logger: false,
      threads: 1,
      maxBatch: 2,
    });
    t.teardown(() => app.close());
    const png = await image('png');
    const classify = () =>
      app.inject({ method: 'POST', url: '/classify', headers: { 'content-type': 'image/png' }, payload: png });
    t.equal((await classify()).statusCode, 200);
    const inflight = Array.from({ length: 6 }, classify);
    // Not a wait for an event: one turn of the event loop, so that the unload comes while these are in flight.
    await new Promise((r) => setTimeout(r, 0));
    const un = await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload' });
    t.equal(un.statusCode, 200, un.body);
    for (const r of await Promise.all(inflight))
      t.ok(r.statusCode === 200 || r.json().code === 'MODEL_UNAVAILABLE', `in flight: ${r.statusCode}`);
    t.same((await app.inject({ method: 'POST', url: '/v2/repository/index' })).json(), [
      { name: 'tiny', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
    ]);
    const off = await classify();
    t.equal(off.statusCode, 503);
    t.equal(off.json().code, 'MODEL_UNAVAILABLE');
    t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/tiny/load' })).statusCode, 200);
    t.equal((await classify()).statusCode, 200);
    const nope = await app.inject({ method: 'POST', url: '/v2/repository/models/nope/load' });
    t.equal(nope.statusCode, 404);
    t.equal(nope.json().code, 'MODEL_NOT_FOUND');
    const none = await buildAppWith({ modelRepository: root, logger: false, threads: 1, maxBatch: 2 });
    t.teardown(() => none.close());
    const refused = await none.inject({ method: 'POST', url: '/v2/repository/models/tiny/unload' });
    t.equal(refused.statusCode, 400);
    t.equal(refused.json().code, 'MODEL_CONTROL_DISABLED');
  },
);
