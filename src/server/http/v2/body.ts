// HTTP body details of the v2 routes as Triton clients use them: bodies without Content-Type, gzip/deflate request bodies (bounded), Accept-Encoding on answers.
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { echo, ServiceError } from '../../errors.js';

const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);

/** The Content-Types an infer body may have: JSON, or the binary tensor extension's bytes. */
const INFER_TYPES = /^application\/(json|octet-stream)\s*(;|$)/i;

/** Passes inflated bytes on until `limit`, then fails with 413 (a small compressed body cannot make the server inflate more). */
class Bounded extends Transform {
  private out = 0;
  /** Compressed bytes read (Fastify checks them against Content-Length). */
  receivedEncodedLength = 0;
  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.out += chunk.length;
    if (this.out > this.limit) {
      done(
        Object.assign(
          new ServiceError(
            'PAYLOAD_TOO_LARGE',
            `the decompressed body is larger than the limit of ${this.limit} bytes (see BODY_LIMIT)`,
          ),
          { statusCode: 413 },
        ),
      );
      return;
    }
    done(null, chunk);
  }
}

/**
 * The body stream of a `Content-Encoding: gzip | deflate` request, inflated as it arrives and bounded by `limit`.
 * `receivedEncodedLength` lets Fastify compare the compressed byte count with Content-Length.
 */
export function inflateBody(
  req: FastifyRequest,
  payload: NodeJS.ReadableStream,
  encoding: string,
  limit: number,
): NodeJS.ReadableStream {
  const inflate = encoding === 'gzip' || encoding === 'x-gzip' ? zlib.createGunzip() : zlib.createInflate();
  const bounded = new Bounded(limit);
  const out = bounded;
  const fail = (e: Error & { code?: string }) => {
    if (e instanceof ServiceError) return;
    bounded.destroy(
      Object.assign(
        new ServiceError('BAD_REQUEST', `the ${encoding} request body cannot be decompressed: ${e.message}`),
        { statusCode: 400 },
      ),
    );
  };
  payload.on('data', (c: Buffer) => {
    out.receivedEncodedLength += c.length;
  });
  inflate.on('error', fail);
  bounded.on('error', () => {
    // Stop inflating and reading once the body is refused.
    inflate.destroy();
    payload.unpipe?.(inflate as NodeJS.WritableStream);
    req.raw.resume();
  });
  payload.pipe(inflate).pipe(bounded);
  return out;
}

/** The encodings of an Accept-Encoding header the service can produce, best first. */
export function responseEncoding(header: string | undefined): 'gzip' | 'deflate' | null {
  if (!header) return null;
  let best: { enc: 'gzip' | 'deflate'; q: number } | null = null;
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    if (!(q > 0)) continue;
    const enc =
      name === 'gzip' || name === 'x-gzip' ? 'gzip' : name === 'deflate' ? 'deflate' : name === '*' ? 'gzip' : null;
    if (enc && (!best || q > best.q)) best = { enc, q };
  }
  return best?.enc ?? null;
}

/** Registers the v2 body hooks on the v2 plugin: request Content-Type and Content-Encoding, and answer compression. */
export function v2BodyHooks(app: FastifyInstance, bodyLimit: number): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    const h = req.raw.headers;
    // tritonclient sends no Content-Type: the binary extension when it sends Inference-Header-Content-Length, else JSON.
    // As in Triton, that header means the binary layout whatever the Content-Type (a JSON-only body splits the same way).
    const hasBody =
      h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
    const binary = h['inference-header-content-length'] !== undefined;
    const infer = req.routeOptions.config?.infer === true;
    if (
      hasBody &&
      (h['content-type'] === undefined || (binary && (infer || /^application\/json\b/i.test(h['content-type']))))
    )
      h['content-type'] = binary ? 'application/octet-stream' : 'application/json';
    // Any other infer body (text/plain, image/*, a form) is refused before it is read, rather than parsed as a tensor.
    const type = h['content-type'];
    if (hasBody && infer && type !== undefined && !INFER_TYPES.test(type))
      throw new ServiceError(
        'UNSUPPORTED_MEDIA_TYPE',
        `an infer request is application/json, or application/octet-stream with Inference-Header-Content-Length (binary tensors), not ${echo(type)}`,
      );
    const enc = (h['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (enc === 'identity' || enc === '') return payload;
    if (enc !== 'gzip' && enc !== 'x-gzip' && enc !== 'deflate') {
      throw new ServiceError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Encoding "${enc}" is not supported; send identity, gzip or deflate`,
      );
    }
    return inflateBody(req, payload, enc, bodyLimit) as typeof payload;
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const enc = responseEncoding(req.headers['accept-encoding']);
    if (enc && (typeof payload === 'string' || Buffer.isBuffer(payload)) && !reply.hasHeader('content-encoding')) {
      reply.header('vary', 'accept-encoding');
      reply.header('content-encoding', enc);
      reply.removeHeader('content-length');
      return enc === 'gzip' ? gzip(payload) : deflate(payload);
    }
    return payload;
  });
}
