// Feedback behind keys, scopes and rate limits on a real server: the feedback scope to post, admin to count, 429 before the body is read, 413 for an oversized upload; refused corrections store nothing.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { listenLocal } from '../fixtures/listen.js';
import { image, noise, testApp, writeModel } from '../fixtures/server.js';

const dir = t.testdir();
const modelPath = writeModel(dir, 'tiny', 1, 'pets.onnx');
const store = path.join(dir, 'feedback');
const INFER = 'infer-key-0123456789abcdef';
const FEEDBACK = 'feedback-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const SLOW = 'slow-key-0123456789abcdef';
const ALL = 'all-key-0123456789abcdef';
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(
  keyFile,
  [
    `${INFER} scopes=infer`,
    `${FEEDBACK} scopes=feedback name=labeller`,
    `${ADMIN} scopes=admin`,
    `${SLOW} scopes=feedback rate=0.001/s burst=1 name=slow`,
    ALL,
  ].join('\n'),
);
const app = await testApp(t, { modelPath, apiKeyFile: keyFile, feedbackDir: store, bodyLimit: 64 * 1024 });
const { url } = await listenLocal(app);
const model = app.mixer.config.modelName;
const labels = app.mixer.repo.instances()[0]!.labels;

const files = (): string[] =>
  existsSync(store) ? (readdirSync(store, { recursive: true }) as string[]).map(String).sort() : [];

async function post(key: string | null, bytes: Buffer, label = labels[0]!) {
  const form = new FormData();
  form.append('model', model);
  form.append('label', label);
  form.append('image', new Blob([bytes]), 'x.png');
  const res = await fetch(`${url}/v1/feedback`, {
    method: 'POST',
    body: form,
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

t.test('posting needs the feedback scope (a key without scopes= has all); refused posts store nothing', async (t) => {
  const png = await image('png', 16, 16, noise(16, 16, 5));
  const none = await post(null, png);
  t.equal(none.status, 401);
  const infer = await post(INFER, png);
  t.equal(infer.status, 403);
  t.equal(infer.body['code'], 'FORBIDDEN');
  t.match(infer.body['message'], /"feedback" scope/);
  t.equal((await post(ADMIN, png)).status, 403, 'admin alone cannot post');
  const probe = (key: string) => fetch(`${url}/v1/feedback`, { headers: { authorization: `Bearer ${key}` } });
  t.equal((await probe(INFER)).status, 403, "the page's probe needs the feedback scope too");
  t.equal((await probe(FEEDBACK)).status, 200);
  t.same(files(), [], 'nothing stored');
  const ok = await post(FEEDBACK, png);
  t.equal(ok.status, 201);
  t.equal((await post(ALL, await image('png', 16, 16, noise(16, 16, 6)))).status, 201, 'a key without scopes=');
  const lines = readFileSync(path.join(store, model, 'feedback.jsonl'), 'utf8')
    .trim()
    .split('\n');
  t.equal(JSON.parse(lines[0]!).key, 'labeller', "the key's id");
  t.notMatch(lines.join('\n'), /key-0123456789abcdef/, 'never the key itself');
});

t.test('the counts need the admin scope', async (t) => {
  const get = (key: string) =>
    fetch(`${url}/v1/feedback/${model}`, { headers: { authorization: `Bearer ${key}` } }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as Record<string, unknown>,
    }));
  t.equal((await get(FEEDBACK)).status, 403);
  t.equal((await get(INFER)).status, 403);
  const admin = await get(ADMIN);
  t.equal(admin.status, 200);
  t.equal(admin.body['total'], 2);
});

t.test('over the rate limit: 429 before the body is read, nothing stored', async (t) => {
  t.equal((await post(SLOW, await image('png', 16, 16, noise(16, 16, 7)))).status, 201);
  const before = files();
  const limited = await post(SLOW, await image('png', 16, 16, noise(16, 16, 8)));
  t.equal(limited.status, 429);
  t.equal(limited.body['code'], 'RATE_LIMITED');
  t.ok(limited.headers.get('retry-after'), 'Retry-After');
  t.same(files(), before, 'nothing stored');
});

t.test('an upload over the body limit: 413, nothing stored', async (t) => {
  const before = files();
  const big = await image('png', 200, 200);
  t.ok(big.length > 64 * 1024, 'the fixture passes the limit');
  const r = await post(FEEDBACK, big);
  t.equal(r.status, 413);
  t.equal(r.body['code'], 'PAYLOAD_TOO_LARGE');
  t.same(files(), before, 'nothing stored');
});
