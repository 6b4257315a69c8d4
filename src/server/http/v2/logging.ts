// Triton's logging extension over REST: GET /v2/logging reads the log settings, POST /v2/logging changes the ones its body names (admin scope).
import type { FastifyInstance } from 'fastify';
import type { LogSettings } from '../../observe/log-settings.js';
import { errorResponses } from '../../schemas.js';

const tags = ['v2'];

const view = {
  type: 'object',
  required: ['log_file', 'log_info', 'log_warning', 'log_error', 'log_verbose_level', 'log_format'],
  properties: {
    log_file: { type: 'string', description: 'always "": the log goes to standard output' },
    log_info: { type: 'boolean' },
    log_warning: { type: 'boolean' },
    log_error: { type: 'boolean' },
    log_verbose_level: { type: 'integer', description: '0: none; 1: pino debug; 2 or more: pino trace' },
    log_format: { type: 'string', enum: ['default', 'ISO8601'] },
  },
  examples: [
    {
      log_file: '',
      log_info: true,
      log_warning: true,
      log_error: true,
      log_verbose_level: 0,
      log_format: 'default',
    },
  ],
} as const;

/** Bodies of POST /v2/logging (a few settings): far below BODY_LIMIT. */
const SETTINGS_BODY_LIMIT = 16 * 1024;

/** Registers the routes in a scope of their own (its body parser applies to them alone). */
export function v2LoggingRoutes(parent: FastifyInstance, settings: LogSettings): void {
  parent.register(async (app) => routes(app, settings));
}

function routes(app: FastifyInstance, settings: LogSettings): void {
  // `curl -d '{…}'`, Triton's own example, labels its JSON as a form: read as the JSON it is, with JSON's errors.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: SETTINGS_BODY_LIMIT },
    app.getDefaultJsonParser('error', 'error'),
  );
  app.get(
    '/logging',
    {
      schema: {
        tags,
        summary: 'The log settings (Triton logging extension)',
        response: { 200: view, ...errorResponses },
      },
    },
    async () => settings.get(),
  );
  // The body is checked by LogSettings (no schema coercion: "true" is not true), so each error names its field.
  app.post(
    '/logging',
    {
      schema: {
        tags,
        summary:
          'Change the log settings the body names (log_info, log_warning, log_error, log_verbose_level, log_format); answers all of them',
        response: { 200: view, ...errorResponses },
      },
    },
    async (req) => settings.update(req.body),
  );
}
