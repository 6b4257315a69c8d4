// Container-test checks of the nginx load balancer's own behaviour: X-Request-Id rule, no X-Upstream, JSON errors in the service's shape.
//
//   node test/container/lb-checks.mjs <base-url>      (exit 1 with the failed check on stderr)
import net from 'node:net';

const base = new URL(process.argv[2] ?? '');
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
};

/** One request over a raw socket, so malformed and oversized requests reach nginx as written. */
function raw(text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(base.port), base.hostname);
    let buf = '';
    s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => {
      buf += d;
      // Done once the body announced by Content-Length is in (nginx lingers on a connection it refused a body on).
      const cut = buf.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, cut))?.[1];
      if (cut >= 0 && len !== undefined && Buffer.byteLength(buf.slice(cut + 4)) >= Number(len)) {
        s.destroy();
        resolve(parse(buf));
      }
    });
    s.on('error', (e) => (buf ? resolve(parse(buf)) : reject(e)));
    s.on('close', () => resolve(parse(buf)));
    s.end(text);
  });
}
function parse(buf) {
  const [head, ...rest] = buf.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = Object.fromEntries(
    lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  let body = rest.join('\r\n\r\n');
  if (/chunked/i.test(headers['transfer-encoding'] ?? ''))
    body = body.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '');
  let json = null;
  try {
    json = JSON.parse(body);
  } catch {
    // stays null
  }
  return { status, headers, json, body };
}
const host = `Host: ${base.host}\r\n`;
const shape = (r, status, code, what) => {
  check(r.status === status, `${what}: status ${r.status}, expected ${status}`);
  check(/json/.test(r.headers['content-type'] ?? ''), `${what}: content-type ${r.headers['content-type']}`);
  check(
    r.json &&
      r.json.statusCode === status &&
      r.json.code === code &&
      typeof r.json.error === 'string' &&
      typeof r.json.message === 'string',
    `${what}: body ${r.body.slice(0, 200)}`,
  );
};

// X-Request-Id: a valid client id comes back unchanged, an invalid one is replaced by nginx's own.
const valid = 'client-42.a:b_C';
let r = await fetch(new URL('/v1/model', base), { headers: { 'x-request-id': valid } });
check(r.status === 200, `GET /v1/model: ${r.status}`);
check(r.headers.get('x-request-id') === valid, `valid X-Request-Id kept: got ${r.headers.get('x-request-id')}`);
check(!r.headers.has('x-upstream'), 'no X-Upstream header');
for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '']) {
  r = await fetch(new URL('/v1/model', base), { headers: { 'x-request-id': bad } });
  const id = r.headers.get('x-request-id') ?? '';
  check(/^[0-9a-f]{32}$/.test(id), `invalid X-Request-Id ${JSON.stringify(bad.slice(0, 20))} replaced: got ${id}`);
}
r = await fetch(new URL('/v1/model', base));
check(/^[0-9a-f]{32}$/.test(r.headers.get('x-request-id') ?? ''), 'an id is generated when none is sent');

// The service's own errors pass through untouched.
r = await fetch(new URL('/no/such/route', base));
const nf = await r.json();
check(r.status === 404 && nf.code === 'NOT_FOUND', `service 404 passes through: ${r.status} ${JSON.stringify(nf)}`);
r = await fetch(new URL('/classify', base), {
  method: 'POST',
  headers: { 'content-type': 'text/plain' },
  body: 'hello',
});
const um = await r.json();
check(
  r.status === 415 && typeof um.code === 'string' && um.code !== 'PAYLOAD_TOO_LARGE',
  `service 415 passes through: ${r.status} ${JSON.stringify(um)}`,
);

// nginx's own errors are JSON in the service's shape, and carry an X-Request-Id.
r = await raw(
  `POST /classify HTTP/1.1\r\n${host}Content-Type: image/png\r\nContent-Length: ${17 * 1024 * 1024}\r\nX-Request-Id: big-body-1\r\n\r\n`,
);
shape(r, 413, 'PAYLOAD_TOO_LARGE', 'body over client_max_body_size');
check(r.headers['x-request-id'] === 'big-body-1', `nginx's 413 keeps the request id: ${r.headers['x-request-id']}`);
r = await raw(`GARBAGE\r\n\r\n`);
shape(r, 400, 'BAD_REQUEST', 'malformed request line');
r = await raw(`GET /v1/model HTTP/1.1\r\n${host}X-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
shape(r, 431, 'HEADERS_TOO_LARGE', 'one header line longer than a buffer');
const many = Array.from({ length: 12 }, (_, i) => `X-Big-${i}: ${'a'.repeat(6000)}\r\n`).join('');
r = await raw(`GET /v1/model HTTP/1.1\r\n${host}${many}\r\n`);
shape(r, 431, 'HEADERS_TOO_LARGE', 'headers over large_client_header_buffers');
r = await fetch(new URL('/_lb_error/502', base));
check(r.status === 404 && (await r.json()).code === 'NOT_FOUND', `the error URIs are internal: ${r.status}`);

if (failures.length) {
  for (const f of failures) console.error(`lb-checks: FAIL ${f}`);
  process.exit(1);
}
console.log(
  'lb-checks: request ids kept/replaced, no X-Upstream, service errors pass through, nginx errors are JSON (400, 404, 413, 431)',
);
