// JSON schemas of the responses (they drive /openapi.json and fast serialisation) and shared bits of the request schemas.

const errorRef = { $ref: 'Error#' } as const;

/** 4xx/5xx responses every route can give. */
export const errorResponses = { '4xx': errorRef, '5xx': errorRef } as const;

const prediction = {
  type: 'object',
  required: ['label', 'index', 'probability'],
  properties: { label: { type: 'string' }, index: { type: 'integer' }, probability: { type: 'number' } },
} as const;

export const modelRef = {
  type: 'object',
  required: ['name', 'sha256'],
  properties: { name: { type: 'string' }, sha256: { type: 'string', description: 'SHA-256 of the model file' } },
} as const;

export const classifyResponse = {
  type: 'object',
  required: ['model', 'results'],
  properties: {
    model: modelRef,
    results: {
      type: 'array',
      description: 'one per image, in upload order',
      items: {
        type: 'object',
        required: ['filename', 'predictions'],
        properties: {
          filename: { type: ['string', 'null'], description: 'the part\'s filename; null for a raw body or a part without one' },
          predictions: { type: 'array', description: 'by descending probability', items: prediction },
        },
      },
    },
  },
} as const;

export const classifyQuery = {
  type: 'object',
  properties: { top: { type: 'integer', minimum: 1, maximum: 1000, default: 5, description: 'predictions per image (capped at the number of classes)' } },
} as const;

/** Documentation-only request body of POST /classify (multipart is parsed by the handler, not validated). */
export const classifyBodyDoc = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        properties: { image: { type: 'string', format: 'binary', description: 'one or more image files (any field name)' } },
      },
    },
    'image/*': { schema: { type: 'string', format: 'binary', description: 'one image as the raw body' } },
  },
} as const;

export const statusResponse = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string' } },
} as const;

const num3 = { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 } as const;

export const modelResponse = {
  type: 'object',
  required: ['name', 'sha256', 'provider', 'config', 'labels', 'inputSize', 'parameters'],
  properties: {
    name: { type: 'string' },
    sha256: { type: 'string' },
    provider: { type: 'string', enum: ['cpu', 'cuda'], description: 'execution provider in use' },
    config: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        ['image_size', 'patch_size', 'in_chans', 'num_classes', 'hidden_dim', 'depth', 'tokens_mlp_dim', 'channels_mlp_dim', 'norm_eps'].map((k) => [k, { type: 'number' }]),
      ),
    },
    labels: { type: 'array', items: { type: 'string' } },
    inputSize: { type: 'integer', description: 'images are resized (shorter side) and centre-cropped to inputSize × inputSize' },
    input: {
      type: 'object',
      properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } }, layout: { type: 'string' } },
    },
    parameters: { type: 'integer' },
    macsPerImage: { type: 'integer' },
    mean: num3,
    std: num3,
    opset: { type: 'integer' },
    fileBytes: { type: 'integer' },
    batching: {
      type: 'object',
      properties: { maxBatch: { type: 'integer' }, batchDelayMs: { type: 'number' }, maxQueue: { type: 'integer' }, workers: { type: 'integer' }, threads: { type: 'integer' } },
    },
  },
} as const;

const tensorMeta = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } },
} as const;

export const v2ModelMetadata = {
  type: 'object',
  required: ['name', 'platform', 'inputs', 'outputs'],
  properties: {
    name: { type: 'string' },
    versions: { type: 'array', items: { type: 'string' } },
    platform: { type: 'string' },
    inputs: { type: 'array', items: tensorMeta },
    outputs: { type: 'array', items: tensorMeta },
  },
} as const;

export const v2ServerMetadata = {
  type: 'object',
  required: ['name', 'version', 'extensions'],
  properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
} as const;

export const v2InferRequest = {
  type: 'object',
  required: ['inputs'],
  properties: {
    id: { type: 'string' },
    parameters: { type: 'object' },
    inputs: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'shape', 'datatype'],
        properties: {
          name: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
          datatype: { type: 'string' },
          parameters: { type: 'object' },
          data: { type: 'array', description: 'row-major, flat or nested; omit when sent as binary (binary_data_size)' },
        },
      },
    },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string' }, parameters: { type: 'object' } },
      },
    },
  },
} as const;

export const v2InferResponse = {
  type: 'object',
  required: ['model_name', 'outputs'],
  properties: {
    model_name: { type: 'string' },
    model_version: { type: 'string' },
    id: { type: 'string' },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'datatype', 'shape'],
        properties: {
          name: { type: 'string' },
          datatype: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer' } },
          parameters: { type: 'object', additionalProperties: true },
          data: { type: 'array', items: { type: ['number', 'string'] } },
        },
      },
    },
  },
} as const;
