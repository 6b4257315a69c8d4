// The feedback store and the recent-images LRU on their own: byte bounds (concurrent reservations included), a failed write leaving nothing counted, and the LRU's order and copies.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { RecentImages, sha256Hex } from '../../src/server/feedback/recent.js';
import { type Correction, FeedbackStore } from '../../src/server/feedback/store.js';

const correction = (model: string, n: number, size: number, label = 'cat'): Correction => {
  const bytes = new Uint8Array(size).fill(n);
  return { model, label, sha256: sha256Hex(bytes), bytes, ext: 'png', version: null, predicted: null, key: null };
};

t.test('concurrent corrections of different models cannot pass the bound together', async (t) => {
  const store = new FeedbackStore(t.testdir(), 10_000);
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) => store.add(correction(`m${i}`, i, 2000))),
  );
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  t.equal(ok, 4, 'four fit (2000 bytes and a history line each)');
  t.ok(
    results.every((r) => r.status === 'fulfilled' || (r.reason as { code?: string }).code === 'FEEDBACK_FULL'),
    'the rest are FEEDBACK_FULL',
  );
  t.ok((await store.size()) <= 10_000);
});

t.test('a write that fails leaves nothing counted and no temporary file', async (t) => {
  const root = t.testdir();
  mkdirSync(path.join(root, 'm'), { recursive: true });
  // A file where the label folder should be: the write fails (for root too, unlike a read-only folder).
  writeFileSync(path.join(root, 'm', 'cat'), 'not a folder');
  const store = new FeedbackStore(root, 1_000_000);
  const before = await store.size();
  await t.rejects(store.add(correction('m', 1, 100)));
  t.equal(await store.size(), before, 'the reservation is released');
  t.same(readdirSync(path.join(root, 'm')), ['cat'], 'no image, no history line');
  t.ok((await store.add(correction('m', 2, 100, 'dog'))).id, 'the store works on');
});

t.test('the scan counts what is there and removes temporary files a crash left', async (t) => {
  const root = t.testdir();
  const first = new FeedbackStore(root, 1_000_000);
  await first.add(correction('m', 1, 300));
  await first.add(correction('m', 2, 300, 'dog'));
  writeFileSync(path.join(root, 'm', 'dog', '.tmp-0123456789abcdef'), 'half a file');
  const second = new FeedbackStore(root, 1_000_000);
  t.same(await second.counts('m'), await first.counts('m'));
  t.same(readdirSync(path.join(root, 'm', 'dog')).length, 1, 'the temporary file is gone');
  t.equal(await second.counts('other'), null);
  await t.rejects(second.counts('../m'), { code: 'BAD_REQUEST' });
  await t.rejects(second.add({ ...correction('m', 3, 10), label: '..' }), { code: 'BAD_REQUEST' });
});

t.test('recent images: least recently used dropped first, bounded in bytes, views copied', async (t) => {
  const r = new RecentImages(250);
  const a = new Uint8Array(100).fill(1);
  const b = new Uint8Array(100).fill(2);
  const c = new Uint8Array(100).fill(3);
  r.remember(a);
  r.remember(b);
  const [ha, hb] = [sha256Hex(a), sha256Hex(b)];
  t.ok(r.get(ha), 'a used again: b is now the oldest');
  r.remember(c);
  t.equal(r.get(hb), undefined, 'b dropped');
  t.ok(r.get(ha) && r.get(sha256Hex(c)));
  t.same(r.usage, { images: 2, bytes: 200 });
  r.remember(new Uint8Array(300));
  t.equal(r.get(sha256Hex(new Uint8Array(300))), undefined, 'larger than the bound: not kept');
  const big = new Uint8Array(10_000);
  const view = big.subarray(0, 50);
  r.remember(view);
  t.equal(r.get(sha256Hex(view))!.buffer.byteLength, 50, 'a view is kept as its own copy');
  const none = new RecentImages(0);
  none.remember(a);
  t.equal(none.get(ha), undefined, '0 keeps none');
});
