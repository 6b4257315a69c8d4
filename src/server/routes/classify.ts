// POST /classify: multipart image parts or one raw image/* body → top-k predictions per image, in upload order.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeImage } from '../../model/preprocess.js';
import type { AppContext } from '../context.js';
import { ServiceError } from '../errors.js';
import { accepts } from '../negotiate.js';
import { topK } from '../predictions.js';
import { classifyQuery, classifyResponse, errorResponses } from '../schemas.js';

interface Upload {
  filename: string | null;
  /** Names the image in error messages (null: "the image"). */
  name: string | null;
  bytes: Uint8Array;
}

export function classifyRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { engine, config } = ctx;
  const size = engine.model.size;
  const decode = (bytes: Uint8Array, name: string | null): Promise<Uint8Array> => {
    return decodeImage(bytes, size, { maxPixels: config.maxPixels, ...(name ? { name } : {}) });
  };

  /** Reads every file part (nothing is decoded before the whole request is admitted). */
  async function multipartUploads(req: FastifyRequest): Promise<Upload[]> {
    const uploads: Upload[] = [];
    let total = 0;
    try {
      for await (const part of req.parts()) {
        if (part.type !== 'file') continue;
        const bytes = await part.toBuffer();
        total += bytes.length;
        if (total > config.bodyLimit) throw new ServiceError('PAYLOAD_TOO_LARGE', `the uploads exceed ${config.bodyLimit} bytes (see BODY_LIMIT)`);
        const filename = part.filename || null;
        uploads.push({ filename, name: filename ?? `part ${uploads.length + 1}`, bytes });
      }
    } catch (e) {
      // Fastify and multipart limit errors carry a status; anything else (busboy, stream) is a malformed body.
      if (e instanceof ServiceError || typeof (e as { statusCode?: unknown }).statusCode === 'number') throw e;
      throw new ServiceError('BAD_MULTIPART', `malformed multipart body: ${(e as Error).message}`);
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
      if (!accepts(req.headers.accept, ['application/json'])) throw new ServiceError('NOT_ACCEPTABLE', 'this endpoint answers application/json only');
      let uploads: Upload[];
      if (req.isMultipart()) {
        uploads = await multipartUploads(req);
        if (uploads.length === 0) throw new ServiceError('NO_IMAGE', 'the multipart body has no file part; send the image as a file field, e.g. curl -F image=@cat.jpg');
      } else if (Buffer.isBuffer(req.body) && /^image\//i.test(req.headers['content-type'] ?? '')) {
        if (req.body.length === 0) throw new ServiceError('EMPTY_IMAGE', 'the request body is empty');
        uploads = [{ filename: null, name: null, bytes: req.body }];
      } else {
        throw new ServiceError('UNSUPPORTED_MEDIA_TYPE', `send multipart/form-data or an image/* body, not ${req.headers['content-type'] ?? 'no Content-Type'}`);
      }
      // All images are admitted together (or the request gets 503) before any is decoded, and run as one batch item,
      // so a request is never half run and half refused.
      const release = ctx.admission.admit(uploads.length);
      let probabilities: Float32Array;
      try {
        const decoded = await Promise.allSettled(uploads.map((u) => decode(u.bytes, u.name)));
        const failed = decoded.find((d) => d.status === 'rejected');
        if (failed) throw failed.reason;
        const per = engine.model.imageBytes;
        const pixels = new Uint8Array(uploads.length * per);
        decoded.forEach((d, i) => pixels.set((d as PromiseFulfilledResult<Uint8Array>).value, i * per));
        probabilities = (await engine.infer(pixels, uploads.length)).probabilities;
      } finally {
        release();
      }
      const { top } = req.query as { top: number };
      const labels = engine.model.spec.labels;
      const k = probabilities.length / uploads.length;
      reply.header('cache-control', 'no-store');
      return {
        model: { name: engine.model.name, sha256: engine.model.sha256 },
        results: uploads.map((u, i) => ({ filename: u.filename, predictions: topK(probabilities.subarray(i * k, (i + 1) * k), labels, top) })),
      };
    },
  );
}
