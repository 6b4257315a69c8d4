// loadModelFile reads through the capped, non-blocking reader: a FIFO or a folder named as the model fails at once with a one-line error.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadModelFile, ModelLoadError } from '../../src/model/index.js';

t.test('a FIFO is refused before any read (a plain readFile waits for a writer forever)', async (t) => {
  const fifo = path.join(t.testdir(), 'model.onnx');
  execFileSync('mkfifo', [fifo]);
  const e = await loadModelFile(fifo).catch((x: unknown) => x);
  t.type(e, ModelLoadError);
  t.match((e as Error).message, /^cannot read model .*model\.onnx: .*is a FIFO, not a regular file/);
});

t.test('a folder and a missing file keep their messages', async (t) => {
  const dir = t.testdir();
  mkdirSync(path.join(dir, 'm.onnx'));
  await t.rejects(loadModelFile(path.join(dir, 'm.onnx')), /^cannot read model .*m\.onnx: .*is a folder/);
  await t.rejects(loadModelFile(path.join(dir, 'nope.onnx')), {
    name: 'ModelLoadError',
    message: /^cannot read model .*nope\.onnx: ENOENT \(model file not found/,
  });
});
