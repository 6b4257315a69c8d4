// Tests for the service settings: defaults, env parsing, flags over env, one-line errors naming the flag or variable, resolved once.
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildApp } from '../../src/server/app.js';
import {
  ConfigError,
  DEFAULT_MODEL_PATH,
  modelNameFor,
  resolveConfig,
  SETTINGS,
  settingsHelp,
} from '../../src/server/config.js';
import { writeModel } from '../fixtures/server.js';

t.test('defaults', async (t) => {
  const c = resolveConfig({});
  t.equal(c.port, 3000);
  t.equal(c.host, '0.0.0.0');
  t.equal(c.device, 'cpu');
  t.equal(c.maxBatch, 32);
  t.equal(c.bodyLimit, 10 * 1024 * 1024);
  const cores = os.availableParallelism();
  t.equal(c.workers, Math.min(4, cores), 'one single-threaded worker per core, up to 4');
  t.equal(c.threads, Math.max(1, Math.floor(cores / Math.min(4, cores))));
  t.equal(c.modelPath, DEFAULT_MODEL_PATH);
  t.ok(DEFAULT_MODEL_PATH.endsWith(path.join('models', 'mixer-cifar10.onnx')));
  t.equal(
    path.dirname(path.dirname(DEFAULT_MODEL_PATH)),
    path.resolve(import.meta.dirname, '../..'),
    'relative to the package root',
  );
  t.equal(c.modelName, 'mixer-cifar10');
});

t.test('the worker layout follows the device and the thread count', async (t) => {
  const cores = os.availableParallelism();
  t.match(resolveConfig({}, { THREADS: '1' }), { workers: 1, threads: 1 }, 'THREADS alone: one worker');
  t.match(resolveConfig({ device: 'cuda' }), { workers: 1, threads: cores }, 'a GPU: one session');
  t.match(resolveConfig({ device: 'auto' }), { workers: 1 });
  t.match(resolveConfig({}, { WORKERS: '3' }), { workers: 3, threads: Math.max(1, Math.floor(cores / 3)) });
  t.match(resolveConfig({ workers: 2, threads: 5 }), { workers: 2, threads: 5 });
  const again = resolveConfig(resolveConfig({}));
  t.match(again, { workers: Math.min(4, cores), threads: Math.max(1, Math.floor(cores / Math.min(4, cores))) });
});

t.test('environment variables', async (t) => {
  const c = resolveConfig(
    {},
    {
      PORT: '8080',
      HOST: '127.0.0.1',
      MODEL_PATH: 'x/My Model.onnx',
      DEVICE: 'auto',
      THREADS: '3',
      MAX_BATCH: '8',
      BATCH_DELAY_MS: '0.5',
      MAX_QUEUE: '10',
      BODY_LIMIT: '512kb',
      MAX_PIXELS: '1000',
      MAX_FILES: '4',
      LOG_LEVEL: 'warn',
    },
  );
  t.match(c, {
    port: 8080,
    host: '127.0.0.1',
    modelPath: 'x/My Model.onnx',
    modelName: 'My-Model',
    device: 'auto',
    threads: 3,
    maxBatch: 8,
    batchDelayMs: 0.5,
    maxQueue: 10,
    bodyLimit: 512 * 1024,
    maxPixels: 1000,
    maxFiles: 4,
    logLevel: 'warn',
  });
  t.equal(resolveConfig({}, { PORT: '' }).port, 3000, 'an empty variable is unset');
});

t.test('given values win over the environment', async (t) => {
  const c = resolveConfig(
    { port: 9000, device: 'cpu', modelName: 'm1' },
    { PORT: '8080', DEVICE: 'cuda', MODEL_NAME: 'm2' },
  );
  t.equal(c.port, 9000);
  t.equal(c.device, 'cpu');
  t.equal(c.modelName, 'm1');
});

t.test('bad values fail with the source named', async (t) => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'abc' }, /^PORT must be an integer, got "abc"$/],
    [{ PORT: '70000' }, /^PORT must be at most 65535/],
    [{ MAX_BATCH: '0' }, /^MAX_BATCH must be at least 1/],
    [{ BATCH_DELAY_MS: '-1' }, /^BATCH_DELAY_MS must be at least 0/],
    [{ DEVICE: 'tpu' }, /^DEVICE "tpu" is not valid\. Should be one of: cpu, cuda, auto$/],
    [{ BODY_LIMIT: '10 parsecs' }, /^BODY_LIMIT must be a size in bytes/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL "loud" is not valid/],
    [{ MODEL_NAME: 'a/b' }, /model name "a\/b" is not valid: a model name is 1-128 letters/],
    [{ MODEL_NAME: '..' }, /model name "\.\." is not valid/],
    [{ MAX_MODEL_BYTES: '8gb' }, /^MAX_MODEL_BYTES must be at most 4294967296, got 8589934592$/],
  ];
  for (const [env, re] of bad)
    t.throws(() => resolveConfig({}, env), { name: 'ConfigError', message: re }, JSON.stringify(env));
  t.throws(() => resolveConfig({ maxQueue: 0 }), ConfigError);
});

t.test('model names and help', async (t) => {
  t.equal(modelNameFor('/a/b/mixer-cifar10.onnx'), 'mixer-cifar10');
  t.equal(modelNameFor('weird name!.ONNX'), 'weird-name-');
  t.equal(modelNameFor('runs/pets/model.onnx'), 'pets', "a training run's model.onnx: the run folder's name");
  t.equal(
    modelNameFor('/srv/models/resnet/3/model.onnx'),
    'resnet',
    'a Triton layout: the model folder, not the version',
  );
  t.equal(modelNameFor('runs/pets/pets-int8.onnx'), 'pets-int8', 'another file name keeps its stem');
  t.equal(modelNameFor('/m/..onnx'), 'model', 'a derived name is always a valid one');
  t.equal(modelNameFor('-x.onnx'), 'x');
  const help = settingsHelp();
  for (const v of [
    'PORT',
    'HOST',
    'MODEL_PATH',
    'DEVICE',
    'THREADS',
    'MAX_BATCH',
    'BATCH_DELAY_MS',
    'MAX_QUEUE',
    'BODY_LIMIT',
    'MAX_PIXELS',
    'MAX_FILES',
    'LOG_LEVEL',
  ]) {
    t.match(help, v);
  }
});

t.test('resolved once: --model and --model-repository exclude each other, whatever the path', async (t) => {
  const root = t.testdir();
  // The shipped model's path given as a flag (or by code) is a choice like any other: no silent override.
  t.throws(() => resolveConfig({ modelPath: DEFAULT_MODEL_PATH, modelRepository: root }), {
    name: 'ConfigError',
    message: /--model \(MODEL_PATH\) and --model-repository \(MODEL_REPOSITORY\) are exclusive/,
  });
  // The container image's MODEL_PATH (the shipped model) with a repository is not.
  t.match(resolveConfig({ modelRepository: root }, { MODEL_PATH: DEFAULT_MODEL_PATH }), { modelRepository: root });
  t.match(resolveConfig({}, { MODEL_REPOSITORY: root }), { modelRepository: root, modelPath: DEFAULT_MODEL_PATH });
});

t.test('buildApp takes the resolved config as it is, without resolving it again', async (t) => {
  const config = resolveConfig({ modelPath: writeModel(t.testdir()), threads: 1, workers: 1, logLevel: 'silent' });
  const app = await buildApp(config, { logger: false });
  t.teardown(() => app.close());
  t.equal(app.mixer.config, config, 'the same object');
  t.same(
    Object.keys(app.mixer.config).sort(),
    SETTINGS.map((s) => s.key)
      .filter((k) => k in config)
      .sort(),
  );
});
