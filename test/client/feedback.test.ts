// The typed client's feedback calls against a real server: a correction by path, bytes, Blob or hash, the counts, and the server's errors as MixerError.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
// The package's own source (the workspace link may point at another checkout's build).
import { Client, MixerError } from '../../packages/client/src/index.js';
import { listenLocal } from '../fixtures/listen.js';
import { image, noise, testApp, writeModel } from '../fixtures/server.js';

const dir = t.testdir();
const modelPath = writeModel(dir, 'tiny', 1, 'pets.onnx');
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(keyFile, 'labeller-key-0123456789 scopes=infer,feedback\nadmin-key-0123456789 scopes=admin\n');
const app = await testApp(t, { modelPath, apiKeyFile: keyFile, feedbackDir: path.join(dir, 'feedback') });
const { url } = await listenLocal(app);
const labels = app.mixer.repo.instances()[0]!.labels;
const model = app.mixer.config.modelName;
const labeller = new Client({ baseUrl: url, apiKey: 'labeller-key-0123456789', retries: 0 });
const admin = new Client({ baseUrl: url, apiKey: 'admin-key-0123456789', retries: 0 });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

t.test('feedback takes a path, bytes, a Blob or the hash of a classified image', async (t) => {
  const file = path.join(dir, 'a.png');
  const a = await image('png', 16, 16, noise(16, 16, 1));
  writeFileSync(file, a);
  const b = await image('png', 16, 16, noise(16, 16, 2));
  const c = await image('jpeg', 16, 16, noise(16, 16, 3));
  const d = await image('png', 16, 16, noise(16, 16, 4));
  const byPath = await labeller.feedback({ image: file, model, label: labels[1]!, predicted: labels[0]!, version: 1 });
  t.equal(byPath.sha256, sha(a));
  t.match(byPath.id, /^[0-9a-f-]{36}$/);
  t.equal((await labeller.feedback({ image: b, model, label: labels[1]! })).sha256, sha(b));
  t.equal((await labeller.feedback({ image: new Blob([c]), label: labels[2]! })).sha256, sha(c), 'default model');
  await labeller.classify(d, { model });
  t.equal((await labeller.feedback({ sha256: sha(d), model, label: labels[3]! })).sha256, sha(d), 'by hash');
  const counts = await admin.feedbackCounts(model);
  t.equal(counts.model, model);
  t.equal(counts.total, 4);
  t.same(
    [counts.labels[labels[1]!], counts.labels[labels[2]!], counts.labels[labels[3]!], counts.labels[labels[4]!]],
    [2, 1, 1, 0],
  );
  t.ok(counts.bytes > a.length + b.length + c.length + d.length);
});

t.test("the server's refusals are MixerErrors with its code", async (t) => {
  const png = await image('png', 16, 16, noise(16, 16, 9));
  const refused = async (p: Promise<unknown>, status: number, code: string) => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    t.ok(e instanceof MixerError, code);
    t.match(e, { status, code });
  };
  await refused(labeller.feedback({ image: png, model, label: 'zebra' }), 400, 'UNKNOWN_LABEL');
  await refused(labeller.feedback({ image: png, model: 'nope', label: 'cat' }), 404, 'MODEL_NOT_FOUND');
  await refused(labeller.feedback({ sha256: 'c'.repeat(64), model, label: labels[0]! }), 404, 'IMAGE_NOT_RECENT');
  await refused(labeller.feedbackCounts(model), 403, 'FORBIDDEN');
  await refused(admin.feedback({ image: png, model, label: labels[0]! }), 403, 'FORBIDDEN');
  await t.rejects(labeller.feedback({ model, label: labels[0]! }), TypeError, 'neither image nor hash');
  await t.rejects(labeller.feedback({ image: png, sha256: sha(png), label: labels[0]! }), TypeError, 'both');
});
