// Finishing touches on the generated OpenAPI document: real response examples (captured from the shipped model) and /openapi.json itself.
import { LOGITS, PIXELS, PROBABILITIES } from '../model/io-names.js';
import { VERSION } from '../util/version.js';
import { V2_EXTENSIONS } from './http/v2/routes.js';
import { statsSchema } from './http/v2/stats.js';

type Doc = {
  paths?: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, { example?: unknown }> }> }>
  >;
};

const SHA = 'bbf3d066f0b14f8f7764411f43ac97d322fb8d15ab9a254cd45129d554b655d5';

/** (path, method, status) → an answer the shipped model really gave (a 32×32 sky-over-grass image; model names as served). */
const EXAMPLES: [string, string, string, unknown][] = [
  [
    '/classify',
    'post',
    '200',
    {
      model: { name: 'mixer-cifar10', version: '1', sha256: SHA },
      results: [
        {
          filename: null,
          predictions: [
            { label: 'deer', index: 4, probability: 0.5577349662780762 },
            { label: 'bird', index: 2, probability: 0.2784978747367859 },
            { label: 'airplane', index: 0, probability: 0.0666440948843956 },
          ],
        },
      ],
    },
  ],
  [
    '/classify',
    'post',
    '4XX',
    {
      statusCode: 400,
      code: 'NOT_AN_IMAGE',
      error: 'Bad Request',
      message: 'the image is not an image in a supported format',
    },
  ],
  [
    '/v2',
    'get',
    '200',
    {
      name: 'onnx-mixer',
      version: VERSION,
      extensions: [...V2_EXTENSIONS],
    },
  ],
  ['/v2/health/ready', 'get', '200', { ready: true }],
  [
    '/v2/models/{name}',
    'get',
    '200',
    {
      name: 'mixer-cifar10',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: PIXELS, datatype: 'UINT8', shape: [-1, 32, 32, 3] }],
      outputs: [
        { name: LOGITS, datatype: 'FP32', shape: [-1, 10] },
        { name: PROBABILITIES, datatype: 'FP32', shape: [-1, 10] },
      ],
    },
  ],
  [
    '/v2/models/{name}',
    'get',
    '4XX',
    {
      statusCode: 404,
      code: 'MODEL_NOT_FOUND',
      error: 'no model "nope"; the models are: mixer-cifar10',
      message: 'no model "nope"; the models are: mixer-cifar10',
    },
  ],
  ['/v2/models/{name}/ready', 'get', '200', { name: 'mixer-cifar10', ready: true }],
  [
    '/v2/models/{name}/infer',
    'post',
    '200',
    {
      model_name: 'mixer-cifar10',
      model_version: '1',
      id: 'req-1',
      outputs: [
        {
          name: PROBABILITIES,
          datatype: 'BYTES',
          shape: [1, 3],
          data: ['0.5577349662780762:4:deer', '0.2784978747367859:2:bird', '0.0666440948843956:0:airplane'],
        },
        {
          name: LOGITS,
          datatype: 'FP32',
          shape: [1, 10],
          data: [
            0.660865068435669, -1.3913795948028564, 2.090909004211426, -0.360096275806427, 2.7853825092315674,
            -0.6095839738845825, -1.0480793714523315, -1.1815121173858643, -1.5191675424575806, -0.785580039024353,
          ],
        },
      ],
    },
  ],
  // The statistics example is the one the route's schema carries (one example, in one place).
  ['/v2/models/{name}/stats', 'get', '200', statsSchema.examples[0]],
];

/** Adds the examples (to the versioned twin paths too) and the /openapi.json path. */
export function finishOpenApi<T extends object>(doc: T): T {
  const d = doc as T & Doc;
  for (const [p, method, status, example] of EXAMPLES) {
    for (const path of [p, p.replace('/v2/models/{name}', '/v2/models/{name}/versions/{version}')]) {
      const content = d.paths?.[path]?.[method]?.responses?.[status]?.content?.['application/json'];
      if (content) content.example = example;
    }
  }
  d.paths ??= {};
  (d.paths as Record<string, unknown>)['/openapi.json'] = {
    get: {
      tags: ['meta'],
      summary: 'This OpenAPI 3 document',
      responses: {
        '200': {
          description: 'The OpenAPI document of every route',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['openapi', 'info', 'paths'],
                properties: { openapi: { type: 'string' }, info: { type: 'object' }, paths: { type: 'object' } },
              },
            },
          },
        },
      },
    },
  };
  return doc;
}
