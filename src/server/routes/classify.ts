// POST /classify: multipart image parts or one raw image/* body → top-k predictions per image, in upload order.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeImage } from '../../image/decode.js';
import { topK } from '../../model/predictions.js';
import type { AppContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { accepts } from '../negotiate.js';
import { type ImageContract, pixelsToInput } from '../repository/contract.js';
import type { ModelInstance } from '../repository/instance.js';
import { classifyQuery, classifyResponse, errorResponses } from '../schemas.js';
import { cachedClassify } from '../traffic/cached.js';
import { routeOf } from '../traffic/split.js';

interface Upload {
  filename: string | null;
  /** Names the image in error messages (null: "the image"). */
  name: string | null;
  bytes: Uint8Array;
}

export function classifyRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config } = ctx;
  /** Decodes one image to the contract (the trainer's decoder) and converts it into the model's input tensor bytes. */
  const decode = (c: ImageContract, bytes: Uint8Array, name: string | null): Promise<Uint8Array> =>
    decodeImage(bytes, c, { maxPixels: config.maxPixels, ...(name ? { name } : {}) }).then((px) =>
      pixelsToInput(px, c),
    );

  /** Reads every file part (nothing is decoded before the whole request is admitted). */
  async function multipartUploads(req: FastifyRequest): Promise<Upload[]> {
    const uploads: Upload[] = [];
    let total = 0;
    try {
      for await (const part of req.parts()) {
        if (part.type !== 'file') continue;
        const bytes = await part.toBuffer();
        total += bytes.length;
        if (total > config.bodyLimit)
          throw new ServiceError('PAYLOAD_TOO_LARGE', `the uploads exceed ${config.bodyLimit} bytes (see BODY_LIMIT)`);
        const filename = part.filename || null;
        uploads.push({ filename, name: filename ?? `part ${uploads.length + 1}`, bytes });
      }
    } catch (e) {
      // Fastify and multipart limit errors carry a status; anything else (busboy, stream) is a malformed body.
      if (e instanceof ServiceError || typeof (e as { statusCode?: unknown }).statusCode === 'number') throw e;
      throw new ServiceError('BAD_MULTIPART', `malformed multipart body: ${(e as Error).message}`, { cause: e });
    }
    return uploads;
  }

  app.post(
    '/classify',
    {
      schema: {
        tags: ['classify'],
        summary: 'Classify images',
        description:
          'multipart/form-data with one or more image parts (any field name), or one image as the raw body with Content-Type image/*. ' +
          'Images are EXIF-rotated, alpha is flattened onto white, the shorter side is resized to the model size and the centre is cropped.',
        querystring: classifyQuery,
        response: { 200: classifyResponse, ...errorResponses },
      },
    },
    async (req, reply) => {
      if (!accepts(req.headers.accept, ['application/json']))
        throw new ServiceError('NOT_ACCEPTABLE', 'this endpoint answers application/json only');
      const q = req.query as { top: number; model?: string; version?: string };
      // The model is looked up first (cheap, and a wrong name costs no decoding), then the request is admitted whole.
      return ctx.repo.use(
        q.model,
        q.version,
        async (m) => {
          reply.header('cache-control', 'no-store').header('x-model-version', String(m.version));
          const t0 = performance.now();
          const times = { inputMs: 0, outputMs: 0 };
          try {
            const r = await classify(req, m, q.top, times);
            ctx.stats.request(m.name, m.version, true, performance.now() - t0, times.inputMs, times.outputMs);
            return r;
          } catch (e) {
            ctx.stats.request(m.name, m.version, false, performance.now() - t0);
            throw e;
          }
        },
        routeOf(req.headers['x-routing-key']),
      );
    },
  );

  async function classify(
    req: FastifyRequest,
    m: ModelInstance,
    top: number,
    times: { inputMs: number; outputMs: number },
  ) {
    const t0 = performance.now();
    const c = m.contract.image;
    if (!c)
      throw new ServiceError(
        'NOT_AN_IMAGE_MODEL',
        `model "${m.name}" is not an image classifier: ${m.contract.notImage}; use POST /v2/models/${m.name}/infer`,
      );
    let uploads: Upload[];
    if (req.isMultipart()) {
      uploads = await multipartUploads(req);
      if (uploads.length === 0)
        throw new ServiceError(
          'NO_IMAGE',
          'the multipart body has no file part; send the image as a file field, e.g. curl -F image=@cat.jpg',
        );
    } else if (Buffer.isBuffer(req.body) && /^image\//i.test(req.headers['content-type'] ?? '')) {
      if (req.body.length === 0) throw new ServiceError('EMPTY_IMAGE', 'the request body is empty');
      uploads = [{ filename: null, name: null, bytes: req.body }];
    } else {
      throw new ServiceError(
        'UNSUPPORTED_MEDIA_TYPE',
        `send multipart/form-data or an image/* body, not ${req.headers['content-type'] ?? 'no Content-Type'}`,
      );
    }
    // A cache hit answers here, before admission and decoding.
    return cachedClassify(ctx, m, top, uploads, async () => {
      // All images are admitted together (or the request gets 503) before any is decoded, and run as one batch item of
      // this model's batcher, so a request is never half run and half refused.
      const release = ctx.admission.admit(uploads.length, req.raw);
      let probs: Float32Array[];
      try {
        const decoded = await Promise.allSettled(uploads.map((u) => decode(c, u.bytes, u.name)));
        const failed = decoded.find((d) => d.status === 'rejected');
        if (failed) throw failed.reason;
        const pixels = new Uint8Array(uploads.length * c.itemBytes);
        decoded.forEach((d, i) => pixels.set((d as PromiseFulfilledResult<Uint8Array>).value, i * c.itemBytes));
        times.inputMs = performance.now() - t0;
        probs = await m.classify(pixels, uploads.length);
      } finally {
        release();
      }
      const t1 = performance.now();
      const results = uploads.map((u, i) => ({ filename: u.filename, predictions: topK(probs[i]!, m.labels, top) }));
      times.outputMs = performance.now() - t1;
      return { model: { name: m.name, version: String(m.version), sha256: m.sha256 }, results };
    });
  }
}
