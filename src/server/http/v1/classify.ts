// POST /classify: multipart image parts or one raw image/* body → top-k predictions per image, in upload order.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DataPlane, ImageUpload } from '../../core/data-plane.js';
import { ServiceError } from '../../errors.js';
import { inferLogFields } from '../../logging.js';
import { accepts } from '../../negotiate.js';
import { classifyQuery, classifyResponse, errorResponses } from '../../schemas.js';
import { routingKey } from '../../traffic/split.js';
import { readBody } from '../read-body.js';
import { boundaryOf, formParts, MAX_FIELDS } from './form-parts.js';

/** Multipart framing a body may add to BODY_LIMIT's bytes of images: part headers and small fields. */
const FRAMING_BYTES = 64 * 1024;

/** Reads the body whole, then its file parts (nothing is read or decoded before the whole request is admitted). */
async function multipartUploads(req: FastifyRequest, bodyLimit: number, maxFiles: number): Promise<ImageUpload[]> {
  const boundary = boundaryOf(req.headers['content-type'] ?? '');
  const body = await readBody(req.raw, bodyLimit + FRAMING_BYTES, 'BODY_LIMIT plus 64 KiB of multipart framing');
  const parts = formParts(body, boundary, { files: maxFiles, parts: maxFiles + MAX_FIELDS, headerBytes: 16 * 1024 });
  const uploads: ImageUpload[] = [];
  let total = 0;
  for (const part of parts) {
    if (!part.file) continue;
    total += part.data.length;
    if (total > bodyLimit)
      throw new ServiceError('PAYLOAD_TOO_LARGE', `the uploads exceed ${bodyLimit} bytes (see BODY_LIMIT)`);
    const filename = part.filename || null;
    uploads.push({ filename, name: filename ?? `part ${uploads.length + 1}`, bytes: part.data });
  }
  if (uploads.length === 0)
    throw new ServiceError(
      'NO_IMAGE',
      'the multipart body has no file part; send the image as a file field, e.g. curl -F image=@cat.jpg',
    );
  return uploads;
}

/** The images of a request: its file parts, or its image/* body. */
async function uploadsOf(req: FastifyRequest, bodyLimit: number, maxFiles: number): Promise<ImageUpload[]> {
  if (req.isMultipart()) return multipartUploads(req, bodyLimit, maxFiles);
  if (Buffer.isBuffer(req.body) && /^image\//i.test(req.headers['content-type'] ?? '')) {
    if (req.body.length === 0) throw new ServiceError('EMPTY_IMAGE', 'the request body is empty');
    return [{ filename: null, name: null, bytes: req.body }];
  }
  throw new ServiceError(
    'UNSUPPORTED_MEDIA_TYPE',
    `send multipart/form-data or an image/* body, not ${req.headers['content-type'] ?? 'no Content-Type'}`,
  );
}

export function classifyRoutes(app: FastifyInstance, plane: DataPlane, bodyLimit: number, maxFiles: number): void {
  app.post(
    '/classify',
    {
      config: { infer: true },
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
      reply.header('cache-control', 'no-store');
      // The model is looked up first (cheap, and a wrong name costs no decoding), then the request is admitted whole.
      return plane.classify(
        {
          name: q.model,
          version: q.version,
          routingKey: routingKey(req.headers['x-routing-key']),
          log: inferLogFields(req),
          trace: req.trace,
        },
        () => uploadsOf(req, bodyLimit, maxFiles),
        q.top,
        req.raw,
        (version) => reply.header('x-model-version', String(version)),
      );
    },
  );
}
