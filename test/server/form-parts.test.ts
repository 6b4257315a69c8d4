// The buffered multipart parser: bodies from a real encoder (Node's FormData) split back exactly, and every malformed or truncated body refused with a 4xx.
import t, { type Test } from 'tap';
import { ServiceError } from '../../src/server/errors.js';
import { boundaryOf, type FormLimits, formParts, headerParams } from '../../src/server/http/v1/form-parts.js';

const limits: FormLimits = { files: 16, parts: 48, headerBytes: 16 * 1024 };

/** A body and its boundary as undici (fetch's FormData) writes them. */
async function encode(fd: FormData): Promise<{ body: Buffer; boundary: string }> {
  const res = new Response(fd);
  const boundary = boundaryOf(res.headers.get('content-type') ?? '');
  return { body: Buffer.from(await res.arrayBuffer()), boundary };
}

/** Bytes that look like framing: CRLFs, dashes and pieces of the boundary. */
function tricky(seed: number, n: number): Uint8Array {
  const alphabet = Buffer.from('\r\n-\r\n--form\0\xff-');
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x % 3 === 0 ? (alphabet[x % alphabet.length] ?? 0) : (x >>> 16) & 255;
  }
  return out;
}

function refusal(t: Test, f: () => unknown, code: string, what: string): void {
  try {
    f();
    t.fail(`${what}: accepted`);
  } catch (e) {
    t.ok(e instanceof ServiceError, `${what}: a ServiceError`);
    t.equal((e as ServiceError).code, code, `${what}: ${(e as Error).message}`);
  }
}

t.test("a real encoder's bodies split back into the same parts, bytes and names", async (t) => {
  for (let seed = 1; seed <= 25; seed++) {
    const fd = new FormData();
    const expected: { name: string; filename: string | null; type: string; data: Buffer }[] = [];
    for (let k = 0; k < 1 + (seed % 4); k++) {
      const data = Buffer.from(tricky(seed * 31 + k, (seed * 97 + k * 13) % 3000));
      if (k % 3 === 2) {
        fd.append(`note ${k}`, `text ${seed}\r\n--with a line`);
        expected.push({
          name: `note ${k}`,
          filename: null,
          type: 'text/plain',
          data: Buffer.from(`text ${seed}\r\n--with a line`),
        });
      } else {
        const filename = k === 1 ? `dir/sub/é ${seed} (q).png` : `${seed}-${k}.jpg`;
        fd.append('image', new Blob([data], { type: k === 1 ? 'image/png' : '' }), filename);
        expected.push({
          name: 'image',
          filename: filename.split('/').at(-1) ?? null,
          type: k === 1 ? 'image/png' : 'application/octet-stream',
          data,
        });
      }
    }
    const { body, boundary } = await encode(fd);
    const parts = formParts(body, boundary, limits);
    t.equal(parts.length, expected.length, `seed ${seed}: part count`);
    parts.forEach((p, i) => {
      const e = expected[i]!;
      t.equal(p.name, e.name, `seed ${seed} part ${i}: name`);
      t.equal(p.filename, e.filename, `seed ${seed} part ${i}: filename`);
      t.equal(p.type, e.type, `seed ${seed} part ${i}: type`);
      t.equal(p.file, e.filename !== null, `seed ${seed} part ${i}: a file or a field`);
      t.ok(p.data.equals(e.data), `seed ${seed} part ${i}: bytes (${e.data.length})`);
    });
  }
});

t.test('every truncation of a body is refused, never misread', async (t) => {
  const fd = new FormData();
  fd.append('image', new Blob([Buffer.from(tricky(7, 300))]), 'a.png');
  fd.append('image', new Blob([Buffer.from(tricky(8, 200))]), 'b.png');
  const { body, boundary } = await encode(fd);
  const close = body.lastIndexOf(Buffer.from(`--${boundary}--`));
  for (let n = 0; n < close + boundary.length + 4; n++)
    refusal(
      t,
      () => formParts(body.subarray(0, n), boundary, limits),
      'BAD_MULTIPART',
      `first ${n} of ${body.length} bytes`,
    );
  t.equal(
    formParts(body.subarray(0, close + boundary.length + 4), boundary, limits).length,
    2,
    'up to the closing delimiter',
  );
});

t.test('preamble, epilogue, padding, folding, parts that are not form-data', async (t) => {
  const body = Buffer.from(
    'a preamble\r\n--b\t \r\n' +
      'Content-Type: image/png\r\n' +
      'Content-Disposition: form-data;\r\n name=image; filename="C:\\\\photos\\\\cat.png"\r\n\r\nPNG\r\n' +
      '--b\r\nContent-Disposition: attachment; filename="x"\r\n\r\nskipped\r\n' +
      '--b\r\n\r\nno headers: skipped\r\n' +
      '--b\r\nContent-Disposition: form-data; name="raw"\r\nContent-Type: Application/Octet-Stream; x=1\r\n\r\n\r\n' +
      '--b\r\ncontent-disposition: form-data; name="u"; filename*=UTF-8\'\'%C3%A9t%C3%A9.png; filename="plain.png"\r\n\r\nE\r\n' +
      '--b\r\nContent-Disposition: form-data; name="dots"; filename=".."\r\n\r\nD\r\n' +
      '--b--\r\nan epilogue with --b inside',
  );
  const parts = formParts(body, 'b', limits);
  t.same(
    parts.map((p) => [p.name, p.filename, p.type, p.file, p.data.toString()]),
    [
      ['image', 'cat.png', 'image/png', true, 'PNG'],
      ['raw', null, 'application/octet-stream', true, ''],
      ['u', 'été.png', 'text/plain', true, 'E'],
      ['dots', '', 'text/plain', true, 'D'],
    ],
  );
  t.same(formParts(Buffer.from('--b--\r\n'), 'b', limits), [], 'no parts at all');
});

t.test('headers: quoting, escapes, UTF-8 bytes, extended values', async (t) => {
  const h = headerParams('Form-Data ; name="a\\"b;c" ; filename=plain.png; size=3');
  t.equal(h.value, 'form-data');
  t.same(
    [...h.params],
    [
      ['name', 'a"b;c'],
      ['filename', 'plain.png'],
      ['size', '3'],
    ],
  );
  t.same(
    [...headerParams('form-data; flag; name="a"; ; other').params],
    [['name', 'a']],
    'valueless parameters skipped',
  );
  t.equal(headerParams(Buffer.from('x; filename="été.png"').toString('latin1')).params.get('filename'), 'été.png');
  t.equal(headerParams("x; filename*=iso-8859-1'fr'%E9t%E9").params.get('filename*'), 'été');
  t.equal(headerParams("x; filename*=koi8-r''%E9").params.has('filename*'), false, 'an unknown charset is dropped');
  t.equal(boundaryOf('multipart/form-data; boundary="a b\\"c"'), 'a b"c');
  t.equal(boundaryOf('multipart/form-data;charset=utf-8;BOUNDARY=----x'), '----x');
});

t.test('hostile bodies get 400 or 413, never a crash', async (t) => {
  refusal(t, () => boundaryOf('multipart/form-data'), 'BAD_MULTIPART', 'no boundary');
  refusal(
    t,
    () => boundaryOf(`multipart/form-data; boundary=${'x'.repeat(201)}`),
    'BAD_MULTIPART',
    'a 201-character boundary',
  );
  refusal(t, () => formParts(Buffer.from('no delimiter at all'), 'b', limits), 'BAD_MULTIPART', 'no delimiter');
  refusal(t, () => formParts(Buffer.from('--bX\r\n\r\nx\r\n--b--'), 'b', limits), 'BAD_MULTIPART', 'a longer boundary');
  refusal(
    t,
    () => formParts(Buffer.from(`--b\r\nX: ${'y'.repeat(20_000)}\r\n\r\nz\r\n--b--`), 'b', limits),
    'BAD_MULTIPART',
    'a 20 kB header block',
  );
  const part = (i: number, file: boolean): string =>
    `--b\r\nContent-Disposition: form-data; name="f${i}"${file ? `; filename="${i}.png"` : ''}\r\n\r\nx\r\n`;
  const files = (n: number, file = true): Buffer =>
    Buffer.from(`${Array.from({ length: n }, (_, i) => part(i, file)).join('')}--b--`);
  t.equal(formParts(files(16), 'b', limits).length, 16, 'the file limit itself is fine');
  refusal(t, () => formParts(files(17), 'b', limits), 'TOO_MANY_FILES', '17 files');
  refusal(t, () => formParts(files(49, false), 'b', limits), 'TOO_MANY_FILES', '49 fields');
  // 100,000 empty parts: refused at the part limit.
  refusal(
    t,
    () => formParts(Buffer.from('--b\r\n\r\n\r\n'.repeat(100_000)), 'b', limits),
    'TOO_MANY_FILES',
    'a flood of parts',
  );
});
