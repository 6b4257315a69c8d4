// The response cache at each inference path: one call wraps a path's work, keyed by what changes its answer.
import type { AppContext } from '../context.js';
import type { ModelInstance } from '../repository/instance.js';
import { type TensorInferResult, tensorInfer } from '../tensor-infer.js';
import type { KeyPart } from './response-cache.js';

type Encoded = TensorInferResult['enc'];

const EMPTY = new Uint8Array(0);

/** An encoded v2 answer's size: its JSON header and binary outputs. */
const encodedBytes = (enc: Encoded): number =>
  Buffer.byteLength(JSON.stringify(enc.json), 'utf8') + enc.binary.reduce((a, b) => a + b.length, 0);

/** The answer with this request's id (as encodeTensorResponse places it), the rest shared with the cached one. */
function withId(enc: Encoded, id: unknown): Encoded {
  const { model_name, model_version, outputs } = enc.json;
  return {
    json: { model_name, model_version, ...(typeof id === 'string' ? { id } : {}), outputs },
    binary: enc.binary,
  };
}

/**
 * tensorInfer through the cache when the model has it on. The key is the request's JSON head without its `id` (the
 * inputs with their parameters, the requested outputs with binary_data and classification, every request parameter)
 * and its binary tail, so a hit answers the bytes a miss would, with the caller's id. A hit skips admission, the
 * input conversion and the batcher.
 */
export async function cachedTensorInfer(
  ctx: AppContext,
  m: ModelInstance,
  json: unknown,
  tail: Buffer | null,
  owner?: object,
): Promise<TensorInferResult> {
  if (!ctx.cache.enabledFor(m) || !json || typeof json !== 'object' || Array.isArray(json))
    return tensorInfer(ctx, m, json, tail, owner);
  const { id, ...head } = json as Record<string, unknown>;
  let ran: TensorInferResult | null = null;
  const { value, hit } = await ctx.cache.answer(
    m,
    ['v2', JSON.stringify(head), tail ?? EMPTY],
    async () => {
      ran = await tensorInfer(ctx, m, json, tail, owner);
      return withId(ran.enc, undefined);
    },
    encodedBytes,
  );
  const now = performance.now();
  if (hit || !ran) return { enc: withId(value, id), t1: now, t2: now };
  return ran;
}

/**
 * A /classify answer through the cache when the model has it on. The key is `top`, the preprocessing that applies
 * (the model's image contract) and each upload's name and exact bytes, in order. `run` admits, decodes, classifies
 * and builds the answer; a hit skips all of it.
 */
export async function cachedClassify<T>(
  ctx: AppContext,
  m: ModelInstance,
  top: number,
  uploads: readonly { filename: string | null; bytes: Uint8Array }[],
  run: () => Promise<T>,
): Promise<T> {
  if (!ctx.cache.enabledFor(m)) return run();
  const parts: KeyPart[] = ['classify', top, JSON.stringify(m.contract.image ?? null), uploads.length];
  for (const u of uploads) parts.push(u.filename === null ? 0 : u.filename, u.bytes);
  const { value } = await ctx.cache.answer(m, parts, run, (v) => Buffer.byteLength(JSON.stringify(v), 'utf8'));
  return value;
}
