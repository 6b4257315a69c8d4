// POST /v1/feedback and GET /v1/feedback/{model} on a real server: the store's files and history, duplicates, relabels, hashes of recent images, bad input, traversal attempts, concurrency.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { loadImageFolder } from '../../src/data/folder.js';
import { listenLocal } from '../fixtures/listen.js';
import { image, noise, testApp, writeModel } from '../fixtures/server.js';
import { tinyTrainer } from '../fixtures/train-tiny.js';

const dir = t.testdir();
const repo = path.join(dir, 'repo');
mkdirSync(path.join(repo, 'pets', '1'), { recursive: true });
writeModel(path.join(repo, 'pets', '1'), 'tiny', 1, 'model.onnx');
/** Ten labels for the tiny model's ten classes; the last two can never name a folder. */
const LABELS = ['cat', 'dog', 'bird', 'fish', 'frog', 'horse', 'ship', 'truck', '../evil', '.hidden'];
writeFileSync(path.join(repo, 'pets', 'labels.txt'), `${LABELS.join('\n')}\n`);
const store = path.join(dir, 'feedback');

const app = await testApp(t, { modelRepository: repo, feedbackDir: store, maxPixels: 1_000_000 });
const { url } = await listenLocal(app);

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Every file under `root`, relative, sorted. */
function files(root: string): string[] {
  if (!existsSync(root)) return [];
  return (readdirSync(root, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

const history = (model = 'pets'): Record<string, unknown>[] => {
  const f = path.join(store, model, 'feedback.jsonl');
  return existsSync(f)
    ? readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
    : [];
};

interface Fields {
  image?: Buffer;
  filename?: string;
  [field: string]: string | Buffer | undefined;
}

async function post(fields: Fields, base = url, headers: Record<string, string> = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (k === 'image' || k === 'filename' || v === undefined) continue;
    form.append(k, v as string);
  }
  if (fields.image) form.append('image', new Blob([fields.image]), fields.filename ?? 'x.png');
  const res = await fetch(`${base}/v1/feedback`, { method: 'POST', body: form, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const counts = async (model: string, base = url, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}/v1/feedback/${model}`, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

t.test('a correction stores the image under its label and one line of history', async (t) => {
  const png = await image('png', 40, 30);
  const r = await post({ image: png, model: 'pets', label: 'cat', version: '1', predicted: 'dog' });
  t.equal(r.status, 201);
  t.equal(r.body['sha256'], sha(png));
  t.match(r.body['id'], /^[0-9a-f-]{36}$/);
  const file = path.join(store, 'pets', 'cat', `${sha(png)}.png`);
  t.same(readFileSync(file), png, 'the bytes as sent');
  const [line] = history();
  t.match(line, {
    id: r.body['id'],
    sha256: sha(png),
    model: 'pets',
    version: '1',
    predicted: 'dog',
    label: 'cat',
    previous: null,
    key: null,
  });
  t.ok(!Number.isNaN(Date.parse(String(line!['time']))), 'a time');
});

t.test('identical images are stored once; the latest label wins and the history is kept', async (t) => {
  const png = await image('png', 20, 20, noise(20, 20, 99));
  const h = sha(png);
  const before = history().length;
  t.equal((await post({ image: png, model: 'pets', label: 'dog' })).status, 201);
  t.equal((await post({ image: png, model: 'pets', label: 'dog' })).status, 201);
  t.same(
    files(store).filter((f) => f.includes(h)),
    [path.join('pets', 'dog', `${h}.png`)],
  );
  const relabel = await post({ image: png, model: 'pets', label: 'bird' });
  t.equal(relabel.status, 201);
  t.same(
    files(store).filter((f) => f.includes(h)),
    [path.join('pets', 'bird', `${h}.png`)],
    'moved to the new label',
  );
  t.notOk(existsSync(path.join(store, 'pets', 'dog')), 'a label folder left empty is removed');
  const lines = history().slice(before);
  t.same(
    lines.map((l) => [l['label'], l['previous']]),
    [
      ['dog', null],
      ['dog', null],
      ['bird', 'dog'],
    ],
  );
  const c = await counts('pets');
  t.equal(c.status, 200);
  t.equal(c.body['labels'] && (c.body['labels'] as Record<string, number>)['bird'], 1);
  t.equal((c.body['labels'] as Record<string, number>)['dog'], 0, 'every model label is listed, 0 included');
});

t.test('formats: JPEG and WebP kept as sent, GIF and TIFF stored as PNG', async (t) => {
  for (const [format, ext] of [
    ['jpeg', 'jpg'],
    ['webp', 'webp'],
    ['gif', 'png'],
    ['tiff', 'png'],
  ] as const) {
    const bytes = await image(format, 24, 24, noise(24, 24, format.length * 7));
    const r = await post({ image: bytes, model: 'pets', label: 'fish', filename: '../../../etc/passwd' });
    t.equal(r.status, 201, format);
    const file = path.join(store, 'pets', 'fish', `${sha(bytes)}.${ext}`);
    t.ok(existsSync(file), `${format} → .${ext}`);
    if (ext !== 'png') t.same(readFileSync(file), bytes, 'as sent');
    else {
      const pixels = (b: Buffer) => sharp(b).removeAlpha().raw().toBuffer();
      t.same(await pixels(readFileSync(file)), await pixels(bytes), 'the same pixels, as PNG');
    }
  }
});

t.test('a recent image may be named by its sha256 alone', async (t) => {
  const png = await image('png', 32, 32, noise(32, 32, 1234));
  const form = new FormData();
  form.append('image', new Blob([png]), 'a.png');
  t.equal((await fetch(`${url}/classify?model=pets`, { method: 'POST', body: form })).status, 200);
  const r = await post({ sha256: sha(png).toUpperCase(), model: 'pets', label: 'frog' });
  t.equal(r.status, 201);
  t.same(readFileSync(path.join(store, 'pets', 'frog', `${sha(png)}.png`)), png);
  const unknown = await post({ sha256: 'a'.repeat(64), model: 'pets', label: 'frog' });
  t.equal(unknown.status, 404);
  t.equal(unknown.body['code'], 'IMAGE_NOT_RECENT');
  t.equal((await post({ sha256: 'xyz', model: 'pets', label: 'frog' })).status, 400);
  const mismatch = await post({ image: png, sha256: 'b'.repeat(64), model: 'pets', label: 'frog' });
  t.equal(mismatch.status, 400, 'a sha256 that is not the image’s');
});

t.test('bad corrections get a 4xx and store nothing', async (t) => {
  const before = files(store);
  const png = await image('png', 16, 16, noise(16, 16, 4242));
  const cases: [string, Fields, number, string][] = [
    ['unknown label', { image: png, model: 'pets', label: 'x'.repeat(500) }, 400, 'UNKNOWN_LABEL'],
    ['unknown predicted', { image: png, model: 'pets', label: 'cat', predicted: 'zebra' }, 400, 'UNKNOWN_LABEL'],
    ['no label', { image: png, model: 'pets' }, 400, 'BAD_REQUEST'],
    ['no image', { model: 'pets', label: 'cat' }, 400, 'NO_IMAGE'],
    ['unknown model', { image: png, model: 'nope', label: 'cat' }, 404, 'MODEL_NOT_FOUND'],
    ['unknown version', { image: png, model: 'pets', label: 'cat', version: '9' }, 404, 'MODEL_NOT_FOUND'],
    ['a version not in form', { image: png, model: 'pets', label: 'cat', version: '1/../2' }, 400, 'BAD_REQUEST'],
    ['traversal in the model', { image: png, model: '../pets', label: 'cat' }, 400, 'BAD_REQUEST'],
    ['traversal in a label', { image: png, model: 'pets', label: '../evil' }, 400, 'BAD_REQUEST'],
    ['a hidden label', { image: png, model: 'pets', label: '.hidden' }, 400, 'BAD_REQUEST'],
    [
      'not an image',
      { image: Buffer.from('hello, not an image at all'), model: 'pets', label: 'cat' },
      400,
      'NOT_AN_IMAGE',
    ],
    ['a corrupt PNG', { image: png.subarray(0, 60), model: 'pets', label: 'cat' }, 400, 'CORRUPT_IMAGE'],
  ];
  for (const [what, fields, status, code] of cases) {
    const r = await post(fields);
    t.equal(r.status, status, what);
    t.equal(r.body['code'], code, what);
    t.ok(String(r.body['message']).length < 600, `${what}: a bounded message`);
  }
  const unknown = await post({ image: png, model: 'pets', label: 'zebra' });
  t.match(unknown.body['message'], /Should be one of: "cat", "dog"/, 'the choices are named');
  const bomb = await post({ image: await image('png', 1200, 1000), model: 'pets', label: 'cat' });
  t.equal(bomb.status, 413);
  t.equal(bomb.body['code'], 'TOO_MANY_PIXELS');
  const json = await fetch(`${url}/v1/feedback`, {
    method: 'POST',
    body: '{"label":"cat"}',
    headers: { 'content-type': 'application/json' },
  });
  t.equal(json.status, 415);
  t.same(files(store), before, 'nothing stored');
  t.same(
    files(dir).filter((f) => f.includes('evil')),
    [],
    'nothing outside the store',
  );
});

t.test('an image deleted by hand is stored again', async (t) => {
  const png = await image('png', 12, 12, noise(12, 12, 31));
  t.equal((await post({ image: png, model: 'pets', label: 'horse' })).status, 201);
  const file = path.join(store, 'pets', 'horse', `${sha(png)}.png`);
  rmSync(file);
  t.equal((await post({ image: png, model: 'pets', label: 'ship' })).status, 201);
  t.same(readFileSync(path.join(store, 'pets', 'ship', `${sha(png)}.png`)), png);
  t.equal(history().at(-1)!['previous'], null, 'no previous label: the image was gone');
});

t.test('concurrent corrections of one image stay consistent', async (t) => {
  const png = await image('png', 28, 28, noise(28, 28, 777));
  const h = sha(png);
  const labels = ['cat', 'dog', 'ship', 'truck'];
  const before = history().length;
  const rs = await Promise.all(
    Array.from({ length: 16 }, (_, i) => post({ image: png, model: 'pets', label: labels[i % labels.length]! })),
  );
  t.same(
    rs.map((r) => r.status),
    Array(16).fill(201),
  );
  const stored = files(store).filter((f) => f.includes(h));
  t.equal(stored.length, 1, 'one file');
  const lines = history().slice(before);
  t.equal(lines.length, 16, 'one line each');
  t.equal(stored[0], path.join('pets', String(lines.at(-1)!['label']), `${h}.png`), 'the last line names its folder');
  // Each line's previous label is the label the line before it left.
  for (let i = 1; i < lines.length; i++) {
    const prev = lines[i - 1]!['label'];
    t.equal(lines[i]!['previous'], lines[i]!['label'] === prev ? null : prev);
  }
  t.same(
    files(store).filter((f) => path.basename(f).startsWith('.')),
    [],
    'no temporary file left',
  );
});

t.test('the counts route, and a new server reads the store as it is', async (t) => {
  const c = await counts('pets');
  t.equal(c.status, 200);
  const perLabel = c.body['labels'] as Record<string, number>;
  const onDisk = files(path.join(store, 'pets')).filter((f) => f.includes(path.sep));
  t.equal(c.body['total'], onDisk.length);
  t.equal(
    Object.values(perLabel).reduce((a, b) => a + b, 0),
    onDisk.length,
  );
  t.same(Object.keys(perLabel).slice(0, 3), ['cat', 'dog', 'bird'], "in the model's label order");
  const bytes = files(path.join(store, 'pets')).reduce(
    (a, f) => a + readFileSync(path.join(store, 'pets', f)).length,
    0,
  );
  t.equal(c.body['bytes'], bytes, 'bytes of images and history');
  t.equal((await counts('nope')).status, 404);
  t.equal((await counts('..%2Fpets')).status, 400, 'a traversal in the name');
  const again = await testApp(t, { modelRepository: repo, feedbackDir: store });
  t.same((await again.inject('/v1/feedback/pets')).json(), c.body, 'a restarted server counts the same');
});

t.test('mixer train reads a model folder of the store as it is (history file included)', async (t) => {
  const { train, report } = await loadImageFolder(path.join(store, 'pets'), {
    size: 32,
    whole: { classes: LABELS.slice(0, 8) },
    threads: 1,
    cacheDir: t.testdir(),
  });
  const onDisk = files(path.join(store, 'pets')).filter((f) => f.includes(path.sep));
  t.equal(train.count, onDisk.length, 'every stored image, nothing else');
  t.same(report.skipped, []);
  // And as a user runs it (every class needs two images: one to train on, one to validate): one epoch of a small model.
  const perLabel = (await counts('pets')).body['labels'] as Record<string, number>;
  let seed = 5000;
  for (const [label, n] of Object.entries(perLabel))
    if (n === 1)
      t.equal(
        (await post({ image: await image('png', 16, 16, noise(16, 16, seed++)), model: 'pets', label })).status,
        201,
      );
  const folders = readdirSync(path.join(store, 'pets'), { withFileTypes: true }).filter((e) => e.isDirectory());
  const run = await tinyTrainer(dir, t.testdir()).trainTiny({
    data: path.join(store, 'pets'),
    out: path.join(dir, 'run'),
    args: ['--epochs', '1', '--batch-size', '4'],
  });
  t.equal(run.code, 0, run.out);
  const classes = /(\d+) classes \(train \/ validation images\):((?:\s+\S+\s+\d+ \/ \d+)+)/.exec(run.out);
  t.same(
    classes?.[2]
      ?.trim()
      .split(/\s+\d+ \/ \d+\s*/)
      .filter(Boolean),
    folders.map((e) => e.name).sort(),
    'its classes are the label folders',
  );
  t.match(run.out, new RegExp(`decoding ${onDisk.length + seed - 5000} images`), 'every stored image');
});

t.test('the store is bounded in bytes: past it, 507 FEEDBACK_FULL and nothing written', async (t) => {
  const small = path.join(dir, 'small');
  const app2 = await testApp(t, { modelRepository: repo, feedbackDir: small, feedbackMaxBytes: 4096 });
  const { url: url2 } = await listenLocal(app2);
  const a = await image('png', 16, 16, noise(16, 16, 1));
  t.equal((await post({ image: a, model: 'pets', label: 'cat' }, url2)).status, 201);
  const snapshot = files(small);
  const big = await image('png', 40, 40, noise(40, 40, 2));
  t.ok(big.length > 4096 - a.length, 'the fixture passes the bound');
  const r = await post({ image: big, model: 'pets', label: 'cat' }, url2);
  t.equal(r.status, 507);
  t.equal(r.body['code'], 'FEEDBACK_FULL');
  t.same(files(small), snapshot, 'nothing written');
});

t.test('off without --feedback-dir: 404 FEEDBACK_OFF', async (t) => {
  const off = await testApp(t, { modelRepository: repo });
  const form = await post({ image: await image('png'), model: 'pets', label: 'cat' }, (await listenLocal(off)).url);
  t.equal(form.status, 404);
  t.equal(form.body['code'], 'FEEDBACK_OFF');
  t.match(form.body['message'], /--feedback-dir/);
  t.equal((await off.inject('/v1/feedback/pets')).json().code, 'FEEDBACK_OFF');
  t.equal((await off.inject('/v1/feedback')).statusCode, 404);
  t.same((await app.inject('/v1/feedback')).json(), { enabled: true, byHash: true }, 'on: what the page asks first');
});
