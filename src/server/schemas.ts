// JSON schemas of the responses (they drive /openapi.json and fast serialisation) and shared bits of the request schemas.
import { MIXER_CONFIG_KEYS } from '../model/config.js';

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
  properties: {
    name: { type: 'string' },
    version: { type: 'string', description: 'the model version that answered' },
    sha256: { type: 'string', description: 'SHA-256 of the model file' },
  },
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
          filename: {
            type: ['string', 'null'],
            description: "the part's filename; null for a raw body or a part without one",
          },
          predictions: { type: 'array', description: 'by descending probability', items: prediction },
        },
      },
    },
  },
} as const;

export const classifyQuery = {
  type: 'object',
  properties: {
    top: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 5,
      description: 'predictions per image (capped at the number of classes)',
    },
    model: { type: 'string', maxLength: 200, description: 'model name (default: the only model, or --default-model)' },
    version: { type: 'string', maxLength: 20, description: 'model version (default: the latest loaded)' },
  },
} as const;

/** Documentation-only request body of POST /classify (multipart is parsed by the handler, not validated). */
export const classifyBodyDoc = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        properties: {
          image: { type: 'string', format: 'binary', description: 'one or more image files (any field name)' },
        },
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

const tensorMeta = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: {
    name: { type: 'string' },
    datatype: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer' } },
  },
} as const;

export const modelResponse = {
  type: 'object',
  required: ['name', 'sha256', 'provider', 'labels', 'parameters'],
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    sha256: { type: 'string' },
    provider: { type: 'string', enum: ['cpu', 'cuda'], description: 'execution provider in use' },
    config: {
      type: ['object', 'null'],
      description: 'onnx-mixer models: their mixer.config; null for other models',
      additionalProperties: false,
      properties: Object.fromEntries(MIXER_CONFIG_KEYS.map((k) => [k, { type: 'number' }])),
    },
    configFile: {
      type: ['object', 'null'],
      description: "the model folder's config.json as applied (repository mode); null when it has none",
      additionalProperties: true,
    },
    classifier: {
      type: 'boolean',
      description: 'true when /classify can serve it (an image input and a class-score output)',
    },
    notClassifierReason: { type: 'string' },
    labels: { type: 'array', items: { type: 'string' } },
    inputSize: {
      type: ['integer', 'null'],
      description: 'images are resized (shorter side) and centre-cropped to inputSize × inputSize',
    },
    input: {
      type: ['object', 'null'],
      properties: {
        name: { type: 'string' },
        datatype: { type: 'string' },
        shape: { type: 'array', items: { type: 'integer' } },
        layout: { type: 'string' },
      },
    },
    preprocessing: {
      type: ['object', 'null'],
      properties: {
        size: { type: 'array', items: { type: 'integer' } },
        channels: { type: 'integer' },
        resize: { type: 'string' },
        resizeShorter: { type: ['integer', 'null'] },
        color: { type: 'string' },
        scale: { type: ['number', 'null'] },
        mean: { type: ['array', 'null'], items: { type: 'number' } },
        std: { type: ['array', 'null'], items: { type: 'number' } },
      },
    },
    output: {
      type: ['object', 'null'],
      properties: { name: { type: 'string' }, softmax: { type: 'boolean' }, classes: { type: 'integer' } },
    },
    inputs: { type: 'array', items: tensorMeta },
    outputs: { type: 'array', items: tensorMeta },
    parameters: {
      type: 'integer',
      description:
        'weight elements: onnx-mixer models count their timm parameters (int8 ones too), others float initializers and 8-bit weight matrices',
    },
    macsPerImage: {
      type: 'integer',
      description: 'multiply-adds of the MatMul, Gemm and Conv nodes per image, estimated from the graph',
    },
    mean: { ...num3, type: ['array', 'null'] },
    std: { ...num3, type: ['array', 'null'] },
    opset: { type: 'integer' },
    fileBytes: { type: 'integer' },
    batching: {
      type: 'object',
      properties: {
        maxBatch: { type: 'integer' },
        fixedBatch: { type: ['integer', 'null'] },
        batchDelayMs: { type: 'number' },
        maxQueue: { type: 'integer' },
        workers: { type: 'integer' },
        threads: { type: 'integer' },
      },
    },
    timings: { type: 'object', properties: { loadMs: { type: 'integer' }, warmupMs: { type: 'integer' } } },
  },
} as const;

const versionState = {
  type: 'object',
  required: ['version', 'state', 'reason'],
  properties: {
    version: { type: 'string' },
    state: { type: 'string', enum: ['READY', 'UNAVAILABLE', 'LOADING', 'UNLOADING'] },
    reason: { type: 'string' },
    classifier: { type: 'boolean', description: 'READY versions: whether POST /classify can use it (an image input)' },
    inputSize: { type: ['array', 'null'], items: { type: 'integer' }, description: 'READY image classifiers: [H, W]' },
    classes: { type: ['integer', 'null'], description: 'READY image classifiers: the number of labels' },
  },
} as const;

export const modelsResponse = {
  type: 'object',
  required: ['models'],
  properties: {
    default: { type: ['string', 'null'], description: 'the model requests without ?model= go to' },
    models: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'versions'],
        properties: {
          name: { type: 'string' },
          reason: { type: ['string', 'null'] },
          versions: { type: 'array', items: versionState },
          latest: { ...modelResponse, type: ['object', 'null'] },
        },
      },
    },
  },
} as const;

export const oneModelResponse = modelsResponse.properties.models.items;

export const repositoryIndex = {
  type: 'array',
  items: {
    type: 'object',
    required: ['name', 'version', 'state', 'reason'],
    properties: {
      name: { type: 'string' },
      version: { type: 'string' },
      state: { type: 'string' },
      reason: { type: 'string' },
    },
  },
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
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    extensions: { type: 'array', items: { type: 'string' } },
  },
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
          data: {
            type: 'array',
            description: 'row-major, flat or nested; omit when sent as binary (binary_data_size)',
          },
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
          data: { type: 'array', items: { type: ['number', 'string', 'boolean'] } },
        },
      },
    },
  },
} as const;
