// --load-model in explicit model control: only the named models load at start (Triton's semantics), `*` loads all, an unknown name fails the start.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { resolveConfig } from '../../src/server/config.js';
import { buildAppWith, testApp, writeModel } from '../fixtures/server.js';

const root = path.join(t.testdir(), 'repo');
for (const [name, seed] of [
  ['a', 1],
  ['b', 2],
  ['c', 3],
] as const) {
  mkdirSync(path.join(root, name, '1'), { recursive: true });
  writeModel(path.join(root, name, '1'), 'tiny', seed, 'model.onnx');
}
const ready = (app: Awaited<ReturnType<typeof testApp>>) =>
  app.mixer.repo
    .index()
    .filter((r) => r.state === 'READY')
    .map((r) => r.name);

t.test('the flag and LOAD_MODELS (comma-separated); explicit control only', async (t) => {
  t.same(resolveConfig({ modelRepository: root, modelControl: 'explicit', loadModels: ['a', 'b'] }).loadModels, [
    'a',
    'b',
  ]);
  t.same(resolveConfig({ modelRepository: root, modelControl: 'explicit' }, { LOAD_MODELS: 'a, c' }).loadModels, [
    'a',
    'c',
  ]);
  t.equal(resolveConfig({ modelRepository: root, modelControl: 'explicit' }).loadModels, undefined);
  for (const control of ['none', 'poll'] as const)
    t.throws(
      () => resolveConfig({ modelRepository: root, modelControl: control, loadModels: ['a'] }),
      { name: 'ConfigError', message: /--load-model \(LOAD_MODELS\) .* with --model-control explicit/ },
      control,
    );
});

t.test('only the named models load at start; the others are listed unloaded and load on request', async (t) => {
  const app = await testApp(t, { modelRepository: root, modelControl: 'explicit', loadModels: ['a', 'c'] });
  t.same(ready(app), ['a', 'c']);
  const index = (await app.inject({ method: 'POST', url: '/v2/repository/index' })).json();
  t.same(
    index.find((r: { name: string }) => r.name === 'b'),
    { name: 'b', version: '', state: 'UNAVAILABLE', reason: 'unloaded' },
  );
  const meta = await app.inject({ method: 'GET', url: '/v2/models/b' });
  t.equal(meta.statusCode, 503);
  t.match(meta.json(), { code: 'MODEL_UNAVAILABLE', message: /model "b" is unavailable/ });
  t.equal(meta.headers['retry-after'], undefined, 'no Retry-After: it stays so until someone loads it');
  t.equal((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode, 200, 'ready: b was not asked for');
  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/b/load' })).statusCode, 200);
  t.same(ready(app), ['a', 'b', 'c']);
  t.equal((await app.inject({ method: 'GET', url: '/v2/models/b' })).statusCode, 200);
});

t.test('* and no flag load every model', async (t) => {
  const star = await testApp(t, { modelRepository: root, modelControl: 'explicit', loadModels: ['*'] });
  t.same(ready(star), ['a', 'b', 'c']);
  const all = await testApp(t, { modelRepository: root, modelControl: 'explicit' });
  t.same(ready(all), ['a', 'b', 'c']);
});

t.test('an unknown name fails the start with a clear message', async (t) => {
  await t.rejects(
    buildAppWith({ logger: false, modelRepository: root, modelControl: 'explicit', loadModels: ['a', 'zebra'] }),
    { name: 'ModelLoadError', message: /^--load-model "zebra": not in the repository .* \(models: a, b, c\)$/ },
  );
});
