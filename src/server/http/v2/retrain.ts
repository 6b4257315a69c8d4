// Retraining over HTTP: POST /v2/repository/models/{name}/retrain (202 { job }), GET /v2/repository/jobs[/{job}], and /promote, /rollback of the canary.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.js';
import { ServiceError } from '../../errors.js';
import { RetrainJobs } from '../../retrain/jobs.js';
import { Rollouts } from '../../retrain/rollout.js';
import { jobStarted, jobView, rolloutView } from '../../retrain/schemas.js';
import { errorResponses } from '../../schemas.js';

export function v2RetrainRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { config, repo, stats } = ctx;
  const root = config.modelRepository ?? null;
  const rollouts = new Rollouts({
    repo,
    stats,
    root: root ?? '',
    share: config.canaryShare,
    autoRequests: config.canaryAutoRequests,
    log: app.log,
  });
  const jobs = new RetrainJobs({
    repo,
    rollouts,
    root: root ?? '',
    feedbackDir: config.feedbackDir ?? null,
    margin: config.retrainMargin,
    log: app.log,
  });
  app.addHook('onClose', async () => {
    rollouts.close();
    jobs.close();
  });
  const tags = ['v2'];
  const params = {
    type: 'object',
    required: ['name'],
    properties: { name: { type: 'string', maxLength: 200 } },
  } as const;
  /** A written version must be loadable while serving: poll or explicit control of a repository. */
  const needsControl = (): void => {
    if (!root || config.modelControl === 'none')
      throw new ServiceError(
        'MODEL_CONTROL_DISABLED',
        'retraining loads the new version while serving: start the server with --model-repository DIR --model-control poll or explicit',
      );
  };
  app.post(
    '/repository/models/:name/retrain',
    {
      schema: {
        tags,
        summary:
          'Fine-tune the newest version on its feedback in a child process; a candidate that passes the gate becomes the next version at the canary share',
        params,
        response: { 202: jobStarted, ...errorResponses },
      },
    },
    async (req, reply) => {
      needsControl();
      const j = jobs.start((req.params as { name: string }).name);
      return reply.code(202).send({ job: j.job, model: j.model, from_version: j.from_version });
    },
  );
  app.get(
    '/repository/jobs',
    {
      schema: {
        tags,
        summary: 'The retrain jobs kept since the server started, newest first',
        response: {
          200: { type: 'object', properties: { jobs: { type: 'array', items: jobView } } },
          ...errorResponses,
        },
      },
    },
    async () => ({ jobs: jobs.list() }),
  );
  app.get(
    '/repository/jobs/:job',
    {
      schema: {
        tags,
        summary:
          "A retrain job: state, progress, the report (the gate's figures) and the rollout of the version it wrote",
        params: { type: 'object', required: ['job'], properties: { job: { type: 'string', maxLength: 64 } } },
        response: { 200: jobView, ...errorResponses },
      },
    },
    async (req) => jobs.get((req.params as { job: string }).job),
  );
  app.post(
    '/repository/models/:name/promote',
    {
      schema: {
        tags,
        summary: 'Give the canary every request without a version (the previous version stays loaded, weight 0)',
        params,
        response: { 200: rolloutView, ...errorResponses },
      },
    },
    async (req) => rollouts.promote((req.params as { name: string }).name),
  );
  app.post(
    '/repository/models/:name/rollback',
    {
      schema: {
        tags,
        summary:
          'Give the previous split back, then unload the canary; its folder is kept as rolled-back-<version> and never served',
        params,
        response: { 200: rolloutView, ...errorResponses },
      },
    },
    async (req) => rollouts.rollback((req.params as { name: string }).name),
  );
}
