// Triton's trace extension over REST: GET/POST /v2/trace/setting and /v2/models/{name}/trace/setting (admin scope), on the data plane's trace settings.
import type { FastifyInstance } from 'fastify';
import type { DataPlane } from '../../core/data-plane.js';
import { errorResponses } from '../../schemas.js';

const tags = ['v2'];

/** Triton's settings object: trace_level a list of strings, every other setting a string. */
const settingsSchema = {
  type: 'object',
  properties: {
    trace_level: { type: 'array', items: { type: 'string', enum: ['OFF', 'TIMESTAMPS'] } },
    trace_rate: { type: 'string', description: 'one request in N is traced (0: none)' },
    trace_count: { type: 'string', description: 'traces still to take (-1: no limit)' },
    log_frequency: { type: 'string', description: 'always "0": spans are exported, not written to a file' },
    trace_file: { type: 'string', description: 'always empty: spans are exported, not written to a file' },
    trace_mode: { type: 'string', description: '"opentelemetry", or "off" when tracing is off' },
  },
} as const;

/** A POST body: any of the settings; a field set to null clears it (a model's override, or the global value back to its start). */
const bodySchema = {
  type: 'object',
  description: 'settings to change, as Triton sends them (strings; trace_level a list); null clears a setting',
  additionalProperties: true,
} as const;

const params = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', maxLength: 200 } },
} as const;

export function v2TraceRoutes(app: FastifyInstance, plane: DataPlane): void {
  const response = { 200: settingsSchema, ...errorResponses };
  app.get(
    '/trace/setting',
    { schema: { tags, summary: 'The global trace settings (Triton trace extension)', response } },
    async () => plane.traceSetting(),
  );
  app.post(
    '/trace/setting',
    {
      schema: {
        tags,
        summary: 'Change the global trace settings; the next request uses them',
        body: bodySchema,
        response,
      },
    },
    async (req) => plane.updateTraceSetting(req.body),
  );
  app.get(
    '/models/:name/trace/setting',
    {
      schema: { tags, summary: "A model's trace settings (its overrides over the global ones)", params, response },
    },
    async (req) => plane.traceSetting((req.params as { name: string }).name),
  );
  app.post(
    '/models/:name/trace/setting',
    {
      schema: {
        tags,
        summary: "Override a model's trace settings (null clears an override); the next request uses them",
        params,
        body: bodySchema,
        response,
      },
    },
    async (req) => plane.updateTraceSetting(req.body, (req.params as { name: string }).name),
  );
}
