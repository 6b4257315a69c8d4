// Container-test load generator: autocannon POSTs an image to /classify until SIGTERM (or --max-s), then prints one JSON summary and exits 1 if any request failed.
//
//   node test/container/load-until-stopped.mjs <base-url> <image.png> [connections=8] [max-s=180]
// A failed request is anything but a 200: a non-2xx answer, a connection error (reset, refused) or a timeout.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [base, imagePath, connArg = '8', maxArg = '180'] = process.argv.slice(2);
if (!base || !imagePath) {
  console.error('usage: load-until-stopped.mjs <base-url> <image.png> [connections] [max-s]');
  process.exit(2);
}
const boundary = '----mixerrolling';
const body = Buffer.concat([
  Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="image.png"\r\nContent-Type: image/png\r\n\r\n`,
  ),
  readFileSync(imagePath),
  Buffer.from(`\r\n--${boundary}--\r\n`),
]);

const codes = {};
const errors = {};
const started = Date.now();
const instance = autocannon({
  url: `${base.replace(/\/+$/, '')}/classify?top=1`,
  method: 'POST',
  headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  body,
  connections: Number(connArg),
  duration: Number(maxArg),
  timeout: 30,
});
instance.on('response', (_client, status) => {
  codes[status] = (codes[status] ?? 0) + 1;
});
instance.on('reqError', (err) => {
  const k = err?.code ?? err?.message ?? String(err);
  errors[k] = (errors[k] ?? 0) + 1;
});
const stop = () => instance.stop();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
instance.on('done', (r) => {
  const ok = codes[200] ?? 0;
  const failed = Object.entries(codes).reduce((n, [c, k]) => n + (c === '200' ? 0 : k), 0) + r.errors; // autocannon counts timeouts among errors
  const summary = {
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    requests: ok + failed,
    ok,
    failed,
    reqPerSec: Number((ok / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1)),
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    statusCodes: codes,
    connectionErrors: r.errors,
    timeouts: r.timeouts,
    errorKinds: errors,
  };
  console.log(JSON.stringify(summary));
  process.exit(failed === 0 && ok > 0 ? 0 : 1);
});
