// JSON schemas of the traffic routes (request body and answer), shared by validation and the OpenAPI document.

const weights = {
  type: 'object',
  nullable: true,
  description: 'version → weight; null: requests without a version go to the latest READY version',
  additionalProperties: { type: 'number', minimum: 0 },
} as const;

export const trafficBody = {
  type: 'object',
  required: ['traffic'],
  additionalProperties: false,
  properties: { traffic: weights },
  examples: [{ traffic: { '1': 90, '2': 10 } }],
} as const;

export const trafficView = {
  type: 'object',
  required: ['name', 'traffic', 'shares'],
  properties: {
    name: { type: 'string' },
    traffic: weights,
    shares: {
      type: 'object',
      description: 'the share (0-1) of requests without a version that each READY version gets now',
      additionalProperties: { type: 'number' },
    },
  },
  examples: [{ name: 'resnet18', traffic: { '1': 90, '2': 10 }, shares: { '1': 0.9, '2': 0.1 } }],
} as const;
