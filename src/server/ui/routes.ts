// The page for people (an adapter of the data plane): GET / (classify by drop, pick or paste), GET /ui/model (one model in detail), GET /ui/retrain (retrain jobs and rollout), their static files and a model's training report.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DataPlane } from '../core/data-plane.js';
import { echo, ServiceError } from '../errors.js';
import { type Asset, acceptsGzip, loadAssets } from './assets.js';
import { findReport, reportFile } from './report.js';

/** The page's policy: its own scripts and styles only, no inline code, requests to this origin only. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Files of a training report may be opened directly: no script runs in them, and they are sandboxed. */
const REPORT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox";

const IMMUTABLE = 'public, max-age=31536000, immutable';

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cacheControl: string, csp = PAGE_CSP): FastifyReply {
  const gzip = a.gzip !== null && acceptsGzip(req.headers['accept-encoding']);
  const etag = gzip ? a.gzipEtag : a.etag;
  reply
    .header('content-security-policy', csp)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', cacheControl)
    .header('etag', etag)
    .header('vary', 'accept-encoding')
    .type(a.type);
  if (req.headers['if-none-match']?.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))
    return reply.code(304).send();
  if (gzip) reply.header('content-encoding', 'gzip');
  return reply.send(gzip ? a.gzip : a.body);
}

/** The page's plugin: its files are public; a model's training report is data (behind the key, if any). */
export async function uiPlugin(app: FastifyInstance, opts: { plane: DataPlane }): Promise<void> {
  const assets = loadAssets();
  const page = (name: string): Asset => {
    const a = assets.pages.get(name);
    if (!a) throw new Error(`ui/${name} is missing from the package`);
    return a;
  };
  const index = page('index.html');
  const model = page('model.html');
  const retrain = page('retrain.html');
  const hidden = { schema: { hide: true }, config: { public: true } };

  // Pages revalidate every time (ETag → 304), so a new release shows at once; the files they name are versioned.
  app.get('/', hidden, async (req, reply) => send(req, reply, index, 'no-cache'));
  app.get('/ui/model', hidden, async (req, reply) => send(req, reply, model, 'no-cache'));
  app.get('/ui/retrain', hidden, async (req, reply) => send(req, reply, retrain, 'no-cache'));
  app.get('/ui/static/:version/:file', hidden, async (req, reply) => {
    const { version, file } = req.params as { version: string; file: string };
    const a = assets.files.get(file);
    if (!a) throw new ServiceError('NOT_FOUND', `no file ${echo(file)} in the page's assets`);
    // A page from an older release may ask for its version: it gets today's file, not cached for long.
    return send(req, reply, a, version === assets.version ? IMMUTABLE : 'no-cache');
  });

  // The training report shipped beside a model: data, so not public (an API key applies when the server has one).
  app.get('/ui/model/report/:file', { schema: { hide: true } }, async (req, reply) => {
    const { file } = req.params as { file: string };
    const { model: name, version } = req.query as { model?: string; version?: string };
    // The model named by ?model=&version= (defaults as for /classify); its report sits beside that version's model.onnx.
    const found = await opts.plane.use({ name, version }, async (m) => {
      const dir = await findReport(m.file);
      const f = dir ? await reportFile(dir, file) : null;
      if (!f)
        throw new ServiceError(
          'NOT_FOUND',
          `model "${m.name}" version ${m.version} ships no training report file ${echo(file)}`,
        );
      return f;
    });
    return send(req, reply, found, 'no-cache', REPORT_CSP);
  });
}
