// JSON schemas of the retrain, job and rollout routes, shared by validation and the OpenAPI document.

const loose = { type: 'object', additionalProperties: true } as const;

export const rolloutView = {
  type: 'object',
  nullable: true,
  additionalProperties: true,
  required: ['model', 'incumbent', 'candidate', 'state', 'share'],
  properties: {
    model: { type: 'string' },
    incumbent: { type: 'integer' },
    candidate: { type: 'integer' },
    state: { type: 'string', enum: ['canary', 'promoted', 'rolled-back'] },
    share: { type: 'number', description: "the candidate's traffic weight (percent)" },
    incumbent_stats: loose,
    candidate_stats: loose,
    decided_by: { type: 'string', nullable: true, enum: ['api', 'auto', null] },
    reason: { type: 'string', nullable: true },
    kept_as: {
      type: 'string',
      nullable: true,
      description: "a rolled-back version's folder, kept beside the versions",
    },
  },
} as const;

export const jobView = {
  type: 'object',
  additionalProperties: true,
  required: ['job', 'model', 'state', 'from_version', 'created'],
  properties: {
    job: { type: 'string' },
    model: { type: 'string' },
    state: { type: 'string', enum: ['running', 'passed', 'refused', 'failed'] },
    from_version: { type: 'integer' },
    created: { type: 'string' },
    finished: { type: 'string', nullable: true },
    progress: {
      ...loose,
      nullable: true,
      description: 'phase (data, evaluate, train, gate, write), step, steps, loss',
    },
    report: {
      ...loose,
      nullable: true,
      description: "the retrain's report: gate decision and reasons, accuracies before and after, data counts",
    },
    error: { type: 'string', nullable: true },
    rollout: rolloutView,
  },
} as const;

export const jobStarted = {
  type: 'object',
  required: ['job'],
  properties: { job: { type: 'string' }, model: { type: 'string' }, from_version: { type: 'integer' } },
  examples: [{ job: '5b7c0f5e-3f0e-4b8e-9a65-0c2f4a1d9e21', model: 'shapes', from_version: 1 }],
} as const;
