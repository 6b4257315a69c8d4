// POST /v1/feedback (a correction: an image, or the hash of one /classify saw, with the right label), GET /v1/feedback (is it on) and GET /v1/feedback/{model} (counts per label).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context.js';
import { clip, echo, ServiceError } from '../../errors.js';
import { storedForm } from '../../feedback/image-file.js';
import { sha256Hex } from '../../feedback/recent.js';
import type { FeedbackStore } from '../../feedback/store.js';
import { accepts } from '../../negotiate.js';
import { checkModelName } from '../../repository/names.js';
import { errorResponses } from '../../schemas.js';

/** The text fields a correction may carry. */
const FIELDS = ['model', 'label', 'version', 'predicted', 'sha256'] as const;
type Field = (typeof FIELDS)[number];

/** Labels named in an UNKNOWN_LABEL message before the rest are counted. */
const LABELS_SHOWN = 20;

/** The request body as the OpenAPI document shows it (the route reads the parts itself). */
export const feedbackBodyDoc = {
  required: true,
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['label'],
        properties: {
          image: { type: 'string', format: 'binary', description: 'the image (or send `sha256` instead)' },
          sha256: {
            type: 'string',
            pattern: '^[0-9a-fA-F]{64}$',
            description: 'the sha256 (hex) of an image /classify received recently, instead of the image',
          },
          model: { type: 'string', description: 'the model (default: the default model)' },
          label: { type: 'string', description: "the right label: one of the model's labels" },
          version: { type: 'string', description: 'the version that answered' },
          predicted: { type: 'string', description: 'the label it answered' },
        },
      },
    },
  },
} as const;

const statusResponse = {
  type: 'object',
  required: ['enabled', 'byHash'],
  properties: {
    enabled: { type: 'boolean' },
    byHash: { type: 'boolean', description: 'a correction may send `sha256` instead of an image /classify received' },
  },
} as const;

const createdResponse = {
  type: 'object',
  required: ['id', 'sha256'],
  properties: {
    id: { type: 'string', description: 'this correction (a line of feedback.jsonl)' },
    sha256: { type: 'string', description: "the image's sha256 (hex): its file name in the store" },
  },
} as const;

const countsResponse = {
  type: 'object',
  required: ['model', 'total', 'bytes', 'labels'],
  properties: {
    model: { type: 'string' },
    total: { type: 'integer', description: 'images stored for the model (each counted once, under its latest label)' },
    bytes: { type: 'integer', description: 'bytes of its images and feedback.jsonl' },
    labels: {
      type: 'object',
      additionalProperties: { type: 'integer' },
      description: 'images per label: every label of the model (0 included), then any other label folder',
    },
  },
} as const;

interface Correction {
  fields: Partial<Record<Field, string>>;
  image: Buffer | null;
  filename: string | null;
}

/** Reads the fields and the one file part (nothing is decoded yet). */
async function readCorrection(req: FastifyRequest): Promise<Correction> {
  if (!req.isMultipart())
    throw new ServiceError(
      'UNSUPPORTED_MEDIA_TYPE',
      `send multipart/form-data (fields image or sha256, model, label), not ${clip(req.headers['content-type'] ?? 'no Content-Type')}`,
    );
  const out: Correction = { fields: {}, image: null, filename: null };
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        if (out.image) throw new ServiceError('BAD_REQUEST', 'a correction carries one image; this one has several');
        out.image = bytes;
        out.filename = part.filename || null;
        continue;
      }
      const name = part.fieldname as Field;
      if (!(FIELDS as readonly string[]).includes(name)) continue;
      if (out.fields[name] !== undefined) throw new ServiceError('BAD_REQUEST', `the field "${name}" is given twice`);
      out.fields[name] = String(part.value);
    }
  } catch (e) {
    if (e instanceof ServiceError || typeof (e as { statusCode?: unknown }).statusCode === 'number') throw e;
    throw new ServiceError('BAD_MULTIPART', `malformed multipart body: ${(e as Error).message}`, { cause: e });
  }
  return out;
}

/** `value` among `labels`, else 400 UNKNOWN_LABEL naming the choices (the first LABELS_SHOWN) and the value (bounded). */
function checkLabel(field: string, value: string, labels: readonly string[], model: string): void {
  if (labels.includes(value)) return;
  const shown = labels.slice(0, LABELS_SHOWN).map((l) => JSON.stringify(l));
  const more = labels.length > LABELS_SHOWN ? `, … (${labels.length} in all)` : '';
  throw new ServiceError(
    'UNKNOWN_LABEL',
    `${field} ${echo(value)} is not a label of model "${model}". Should be one of: ${shown.join(', ')}${more}`,
  );
}

function feedbackOff(): ServiceError {
  return new ServiceError(
    'FEEDBACK_OFF',
    'feedback is off on this server: start it with --feedback-dir DIR (FEEDBACK_DIR)',
  );
}

export function feedbackRoutes(app: FastifyInstance, ctx: AppContext, store: FeedbackStore | null): void {
  const { plane, config } = ctx;
  app.get(
    '/v1/feedback',
    {
      schema: {
        tags: ['feedback'],
        summary: 'Whether this server takes corrections',
        description:
          'With feedback on: 200, and whether a correction may name a recently classified image by its sha256 (the page asks this first). Off: 404 FEEDBACK_OFF. Needs the `feedback` scope when keys are on.',
        response: { 200: statusResponse, ...errorResponses },
      },
    },
    async (_req, reply) => {
      if (!store) throw feedbackOff();
      reply.header('cache-control', 'no-store');
      return { enabled: true, byHash: ctx.recent !== null };
    },
  );
  app.post(
    '/v1/feedback',
    {
      schema: {
        tags: ['feedback'],
        summary: 'Correct an answer',
        description:
          'multipart/form-data: `image` (or `sha256` of an image /classify received recently), `label` (the right one), ' +
          'optional `model`, `version`, `predicted`. The image goes through the same decoder and limits as /classify and is ' +
          'stored once per content hash under its latest label. Needs the `feedback` scope when keys are on.',
        response: { 201: createdResponse, ...errorResponses },
      },
    },
    async (req, reply) => {
      if (!store) throw feedbackOff();
      if (!accepts(req.headers.accept, ['application/json']))
        throw new ServiceError('NOT_ACCEPTABLE', 'this endpoint answers application/json only');
      const { fields, image, filename } = await readCorrection(req);
      const { label, predicted, version } = fields;
      if (label === undefined || label === '')
        throw new ServiceError('BAD_REQUEST', 'the field "label" (the right label) is missing');
      let bytes: Uint8Array;
      let sha256: string;
      if (image) {
        if (image.length === 0) throw new ServiceError('EMPTY_IMAGE', 'the image is empty (0 bytes)');
        bytes = image;
        sha256 = sha256Hex(image);
        if (fields.sha256 !== undefined && fields.sha256.toLowerCase() !== sha256)
          throw new ServiceError('BAD_REQUEST', `the field "sha256" ${echo(fields.sha256)} is not the image's sha256`);
      } else if (fields.sha256 !== undefined) {
        sha256 = fields.sha256.toLowerCase();
        if (!/^[0-9a-f]{64}$/.test(sha256))
          throw new ServiceError('BAD_REQUEST', `the field "sha256" ${echo(fields.sha256)} is not 64 hex digits`);
        const kept = ctx.recent?.get(sha256);
        if (!kept)
          throw new ServiceError(
            'IMAGE_NOT_RECENT',
            `no image with sha256 ${sha256} was classified recently (or it is no longer kept): send the image itself`,
          );
        bytes = kept;
      } else {
        throw new ServiceError(
          'NO_IMAGE',
          'the correction has no image: send it as a file field (curl -F image=@cat.jpg) or its sha256 in the field "sha256"',
        );
      }
      const ref = { name: fields.model, version };
      const m = await plane.vetImage(ref, { filename, name: filename, bytes }, (inst) => {
        checkLabel('the label', label, inst.labels, inst.name);
        if (predicted !== undefined) checkLabel('the predicted label', predicted, inst.labels, inst.name);
      });
      const stored = await storedForm(bytes, config.maxPixels);
      const key = ctx.keys.enabled ? (ctx.keys.identify(req.headers.authorization)?.id ?? null) : null;
      const r = await store.add({
        model: m.name,
        label,
        sha256,
        bytes: stored.bytes,
        ext: stored.ext,
        version: version ?? null,
        predicted: predicted ?? null,
        key,
      });
      req.log.info({ feedback: { model: m.name, label, sha256, action: r.action, previous: r.previous } }, 'feedback');
      reply.code(201).header('cache-control', 'no-store');
      return { id: r.id, sha256: r.sha256 };
    },
  );

  app.get(
    '/v1/feedback/:model',
    {
      schema: {
        tags: ['feedback'],
        summary: "A model's feedback: images per label",
        description:
          'Counts of the stored corrections per label (each image counted once, under its latest label). Needs the `admin` scope when keys are on. 404 MODEL_NOT_FOUND for a model neither served nor in the store.',
        params: { type: 'object', required: ['model'], properties: { model: { type: 'string' } } },
        response: { 200: countsResponse, ...errorResponses },
      },
    },
    async (req, reply) => {
      if (!store) throw feedbackOff();
      const name = checkModelName((req.params as { model: string }).model);
      const counts = await store.counts(name);
      let labels: readonly string[] = [];
      try {
        labels = await plane.use({ name }, async (m) => m.labels);
      } catch (e) {
        // A model the store knows but the server no longer serves (or not now) is still counted.
        if (!counts) throw e;
      }
      const perLabel: Record<string, number> = {};
      for (const l of labels) perLabel[l] = counts?.labels[l] ?? 0;
      for (const [l, n] of Object.entries(counts?.labels ?? {})) perLabel[l] = n;
      reply.header('cache-control', 'no-store');
      return { model: name, total: counts?.total ?? 0, bytes: counts?.bytes ?? 0, labels: perLabel };
    },
  );
}
