// Parking while full cannot stall: parked requests that fail before admission (415) or hang up hand their slot on, and light traffic is served right after the flood.
import net from 'node:net';
import t from 'tap';
import { listenLocal } from '../fixtures/listen.js';
import { image, testApp, writeModel } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

// One image in flight at a time, and each one waits 800 ms for its batch: the service is full most of the time.
const BATCH_DELAY_MS = 800;
const app = await testApp(t, {
  modelPath: writeModel(t.testdir(), 'cifar10-s4'),
  maxQueue: 1,
  batchDelayMs: BATCH_DELAY_MS,
});
const { port, url } = await listenLocal(app);
const png = await image('png');
const { admission } = app.mixer;

const classify = (type = 'image/png', payload: Buffer | string = png) =>
  fetch(`${url}/classify?top=1`, { method: 'POST', headers: { 'content-type': type }, body: payload });

/** A raw request that sends its headers and body, and hangs up once it is parked; resolves when it has hung up. */
async function parkAndHangUp(): Promise<void> {
  const parkedBefore = admission.parked;
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.write(`POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${png.length}\r\n\r\n`);
  s.write(png);
  await until(() => admission.parked > parkedBefore, 5000, 'the raw request to be parked', 5);
  await new Promise<void>((resolve) => {
    s.once('close', () => resolve());
    s.destroy();
  });
}

t.test(
  'parked requests that fail or hang up give their slot back: light traffic is served after the flood',
  async (t) => {
    // The flood: one request admitted (it waits 800 ms for its batch), then parked ones that hang up or are a 415.
    const first = classify();
    await until(() => admission.full, 5000, 'the first request to be admitted', 5);
    const failing: Promise<Response>[] = [];
    await parkAndHangUp();
    for (const n of [1, 2]) {
      const parkedBefore = admission.parked;
      failing.push(classify('text/plain', `not an image ${n}`));
      await until(() => admission.parked > parkedBefore, 5000, `text/plain request ${n} to be parked`, 5);
    }
    await parkAndHangUp();
    t.equal((await first).status, 200, 'the admitted request is answered');

    // Light traffic from the moment the admitted request is answered: one request every 900 ms, each served in about
    // 800 ms (its batch delay). Before the fix, the freed slot went to a request that never took it, and every later
    // request was parked behind the stale ones until a 503.
    const light: Promise<Response>[] = [];
    for (let i = 0; i < 6; i++) {
      light.push(classify());
      // Not a wait for an event: this paces the light traffic (one request per batch delay and a bit).
      await new Promise((r) => setTimeout(r, BATCH_DELAY_MS + 100));
    }
    const statuses = (await Promise.all(light)).map((r) => r.status);
    t.same(statuses, [200, 200, 200, 200, 200, 200], `light traffic after the flood: ${statuses}`);
    t.same(
      (await Promise.all(failing)).map((r) => r.status),
      [415, 415],
      'each parked text/plain request was handed a slot and refused for its type (not left waiting until a 503)',
    );

    await until(() => admission.images === 0 && admission.parked === 0, 5000, 'admission to be empty', 5);
    const metrics = (await app.inject('/metrics')).body;
    t.match(metrics, /\nmixer_images_in_flight 0\n/, 'nothing left in flight');
    t.match(metrics, /\nmixer_requests_parked 0\n/, 'nothing left parked');
    t.match(metrics, /mixer_queue_depth\{[^}]*\} 0/, 'nothing left queued');
  },
);

/** The admission_wait and total stage sums and counts of the model now (seconds). */
async function stageSums(): Promise<Record<string, number>> {
  const text = (await app.inject('/metrics')).body;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    /^mixer_stage_duration_seconds_(sum|count)\{.*stage="(admission_wait|total)"\} (\S+)$/gm,
  ))
    out[`${m[2]}_${m[1]}`] = Number(m[3]);
  return out;
}

t.test('a parked request handed a slot keeps it: its admission takes the held slot over', async (t) => {
  const before = await stageSums();
  const first = classify();
  await until(() => admission.full, 5000, 'the first request to be admitted', 5);
  // Parked for the last ~400 ms of the first one's batch delay, well within the 1 s it may wait (not a wait for an
  // event: the second request is meant to arrive half-way through the first one's delay).
  await new Promise((r) => setTimeout(r, BATCH_DELAY_MS / 2));
  const second = classify();
  await until(() => admission.parked === 1, 5000, 'the second request to be parked', 5);
  // Handed the freed slot, the second one holds it (the service stays full) and is neither refused by the full check
  // before its body is read nor by its own admission.
  const statuses = await Promise.all([first, second].map((p) => p.then((r) => r.status)));
  t.same(statuses, [200, 200]);
  await until(() => admission.images === 0 && admission.parked === 0, 5000, 'admission to be empty', 5);
  // The time parked is the second request's admission wait (the first was admitted at once), within the total.
  const after = await stageSums();
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  t.equal(d('admission_wait_count'), 2, 'both requests observe an admission wait');
  t.ok(d('admission_wait_sum') > 0, `the parked one waited: ${d('admission_wait_sum')} s`);
  t.ok(d('admission_wait_sum') < 1, 'less than PARK_MS, or it would have been refused');
  t.ok(d('total_sum') > d('admission_wait_sum'), 'the totals include the wait');
});
