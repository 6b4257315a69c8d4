// A model's serving contract: image input, layout, size, preprocessing, class output and batching, derived from its graph and completed by config.json.
import type { ImageTarget } from '../../image/pipeline.js';
import { PROBABILITIES } from '../../model/io-names.js';
import { specFromMetadata } from '../../model/metadata.js';
import { paramTable } from '../../model/params.js';
import type { ModelInterface, TensorInfo } from '../../onnx/inspect.js';
import { ELEM_TYPES, type ElemType } from '../../onnx/types.js';
import { type ModelConfigFile, ModelFileError } from './config-file.js';

export type Layout = 'NCHW' | 'NHWC';

/** How an image becomes the model's input tensor: decoded to the target (height, width, channels, resize), then laid out. */
export interface ImageContract extends ImageTarget {
  input: string;
  dtype: 'float32' | 'uint8';
  layout: Layout;
  color: 'rgb' | 'bgr' | 'gray';
  scale: number;
  mean: number[];
  std: number[];
  output: string;
  /** Apply softmax to the output (false when it already holds probabilities). */
  softmax: boolean;
  /** Bytes of one image's input tensor. */
  itemBytes: number;
}

export interface ModelContract {
  io: ModelInterface;
  /** null when the model is not an image classifier; `notImage` says why. */
  image: ImageContract | null;
  notImage: string | null;
  labels: string[] | null;
  /** A fixed batch dimension (the batcher pads to it), or null when it is dynamic. */
  fixedBatch: number | null;
  maxBatch: number;
  instances: number;
  threads: number;
  /** An onnx-mixer model (mixer.* metadata). */
  mixer: boolean;
  /** Assumptions made for the model, one line each, for the log at load (a float input with no scale, mean or std). */
  warnings: string[];
}

export interface ServerDefaults {
  maxBatch: number;
  workers: number;
  threads: number;
}

export const elemBytes = (t: ElemType): number => ELEM_TYPES[t].bytes;

const shapeStr = (s: TensorInfo['shape']): string => `[${s.map((d) => (d === null ? '?' : d)).join(',')}]`;

/** Layout from a rank-4 shape: channels (1 or 3) second → NCHW, last → NHWC. */
function detectLayout(s: TensorInfo['shape']): Layout | null {
  if (s[1] === 1 || s[1] === 3) return 'NCHW';
  if (s[3] === 1 || s[3] === 3) return 'NHWC';
  return null;
}

/** Why an input cannot take images, or null when it can (given the config's layout). */
function imageProblem(i: TensorInfo, layout: Layout | undefined): string | null {
  if (i.type !== 'float32' && i.type !== 'uint8')
    return `input "${i.name}" is ${i.type}; image inputs are float32 or uint8`;
  if (i.shape.length !== 4)
    return `input "${i.name}" has shape ${shapeStr(i.shape)}; image inputs are 4-D, NCHW or NHWC`;
  const l = layout ?? detectLayout(i.shape);
  if (!l)
    return `input "${i.name}" ${shapeStr(i.shape)} has no channel dimension of 1 or 3 (set "layout" in config.json)`;
  const c = l === 'NCHW' ? i.shape[1] : i.shape[3];
  if (c !== 1 && c !== 3)
    return `input "${i.name}" ${shapeStr(i.shape)} has ${c ?? 'a dynamic number of'} channels for layout ${l}; images have 1 or 3`;
  return null;
}

function perChannel(v: number[] | undefined, channels: number, dflt: number, key: string, file: string): number[] {
  if (v === undefined) return Array.from({ length: channels }, () => dflt);
  if (v.length === 1) return Array.from({ length: channels }, () => v[0]!);
  if (v.length !== channels)
    throw new ModelFileError(
      `${file}: "${key}" has ${v.length} values but the input has ${channels} channels; give ${channels} (or 1)`,
    );
  return v;
}

/**
 * Derives the contract. `cfg` is config.json ({} when absent), `labels` labels.txt (null when absent);
 * `file` names config.json in errors. Throws ModelFileError on a config that contradicts the graph.
 */
export function deriveContract(
  io: ModelInterface,
  cfg: ModelConfigFile,
  labelsFile: string[] | null,
  d: ServerDefaults,
  file: string,
  labelsPath: string,
): ModelContract {
  const mixer = io.metadata['mixer.config'] !== undefined;
  const spec = mixer ? specFromMetadata(io.metadata) : null;
  for (const k of ['input', 'output'] as const) {
    const name = cfg[k];
    const list = k === 'input' ? io.inputs : io.outputs;
    if (name !== undefined && !list.some((x) => x.name === name)) {
      throw new ModelFileError(
        `${file}: "${k}" names "${name}" but the graph's ${k}s are ${list.map((x) => x.name).join(', ')}; fix the name or remove the key`,
      );
    }
  }
  // The image input: the configured one, else the only image-like input.
  let image: ImageContract | null = null;
  let notImage: string | null = null;
  let inInfo: TensorInfo | undefined;
  if (cfg.input !== undefined) {
    inInfo = io.inputs.find((x) => x.name === cfg.input)!;
    const p = imageProblem(inInfo, cfg.layout);
    if (p) throw new ModelFileError(`${file}: ${p}`);
  } else {
    const candidates = io.inputs.filter((x) => imageProblem(x, cfg.layout) === null);
    if (io.inputs.length !== 1)
      notImage = `the model has ${io.inputs.length} inputs (${io.inputs.map((x) => x.name).join(', ')}); an image classifier has one image input`;
    else if (candidates.length === 0) notImage = imageProblem(io.inputs[0]!, cfg.layout);
    else inInfo = candidates[0];
  }
  if (inInfo && io.inputs.length !== 1) {
    notImage = `the model has ${io.inputs.length} inputs (${io.inputs.map((x) => x.name).join(', ')}); an image classifier has one image input`;
    inInfo = undefined;
  }
  // The class output: configured, probabilities for onnx-mixer models, else the first float [N,K] output.
  const outName =
    cfg.output ??
    (mixer
      ? PROBABILITIES
      : io.outputs.find(
          (o) => (o.type === 'float32' || o.type === 'float16' || o.type === 'float64') && o.shape.length === 2,
        )?.name);
  const outInfo = io.outputs.find((o) => o.name === outName);
  if (inInfo && !outInfo)
    notImage = `no float [N,K] output to read class scores from (outputs: ${io.outputs.map((o) => `${o.name} ${o.type} ${shapeStr(o.shape)}`).join(', ')}); set "output" in config.json`;
  if (inInfo && outInfo && outInfo.type !== 'float32')
    notImage = `output "${outInfo.name}" is ${outInfo.type}; class scores must be float32`;
  const batchDim = (inInfo ?? io.inputs[0])?.shape[0];
  const fixedBatch =
    typeof batchDim === 'number' && io.inputs.every((x) => typeof x.shape[0] === 'number') ? batchDim : null;
  if (inInfo && outInfo && notImage === null) {
    const layout = cfg.layout ?? detectLayout(inInfo.shape)!;
    const s = inInfo.shape;
    const channels = (layout === 'NCHW' ? s[1] : s[3]) as 1 | 3;
    const [gh, gw] = layout === 'NCHW' ? [s[2], s[3]] : [s[1], s[2]];
    let height: number;
    let width: number;
    if (typeof gh === 'number' && typeof gw === 'number') {
      if (cfg.size && (cfg.size[0] !== gh || cfg.size[1] !== gw))
        throw new ModelFileError(
          `${file}: "size" is [${cfg.size.join(', ')}] but the graph's input is ${gh}x${gw}; remove "size" or fix it`,
        );
      [height, width] = [gh, gw];
    } else if (cfg.size) {
      [height, width] = cfg.size;
    } else {
      throw new ModelFileError(
        `${file}: input "${inInfo.name}" ${shapeStr(s)} has a dynamic height or width; set "size": [H, W] in config.json`,
      );
    }
    const color = cfg.color ?? (channels === 1 ? 'gray' : 'rgb');
    if ((color === 'gray') !== (channels === 1))
      throw new ModelFileError(`${file}: "color" "${color}" does not fit an input with ${channels} channel(s)`);
    if (inInfo.type === 'uint8' && (cfg.mean || cfg.std || cfg.scale !== undefined))
      throw new ModelFileError(
        `${file}: input "${inInfo.name}" is uint8 and gets raw pixels; "scale", "mean" and "std" apply to float inputs only`,
      );
    const resize = cfg.resize ?? 'crop';
    if (cfg.resize_shorter !== undefined && (resize !== 'crop' || cfg.resize_shorter < Math.max(height, width))) {
      throw new ModelFileError(
        `${file}: "resize_shorter" needs "resize": "crop" and must be at least the crop size ${Math.max(height, width)}`,
      );
    }
    image = {
      input: inInfo.name,
      dtype: inInfo.type as 'float32' | 'uint8',
      layout,
      channels,
      height,
      width,
      resize,
      resizeShorter: cfg.resize_shorter ?? null,
      interpolation: cfg.interpolation ?? 'lanczos',
      antialias: cfg.antialias ?? true,
      color,
      scale: cfg.scale ?? 1 / 255,
      mean: perChannel(cfg.mean, channels, 0, 'mean', file),
      std: perChannel(cfg.std, channels, 1, 'std', file),
      output: outInfo.name,
      softmax: cfg.softmax ?? (mixer ? false : io.producers[outInfo.name] !== 'Softmax'),
      itemBytes: height * width * channels * (inInfo.type === 'float32' ? 4 : 1),
    };
  }
  if (!image && notImage === null) notImage = 'the model has no image input';
  const warnings: string[] = [];
  if (image?.dtype === 'float32' && !mixer && cfg.scale === undefined && !cfg.mean && !cfg.std)
    warnings.push(
      `input "${image.input}" is float32 and ${file} sets no "scale", "mean" or "std": assuming pixel/255 (scale 1/255, mean 0, std 1); set them to the model's training preprocessing`,
    );
  // Labels: labels.txt, else metadata, else class indices (filled in once the width is known).
  const width = image ? io.outputs.find((o) => o.name === image!.output)!.shape[1] : null;
  let labels: string[] | null = labelsFile ?? spec?.labels ?? null;
  if (labelsFile && typeof width === 'number' && labelsFile.length !== width) {
    throw new ModelFileError(
      `${labelsPath} has ${labelsFile.length} lines but output "${image!.output}" has ${width} classes; write one label per class`,
    );
  }
  if (!labels && typeof width === 'number') labels = Array.from({ length: width }, (_, i) => String(i));
  if (cfg.max_batch_size !== undefined && fixedBatch !== null && cfg.max_batch_size !== fixedBatch) {
    throw new ModelFileError(
      `${file}: "max_batch_size" is ${cfg.max_batch_size} but the graph's batch dimension is fixed at ${fixedBatch}; remove it`,
    );
  }
  return {
    io,
    image,
    notImage: image ? null : notImage,
    labels,
    fixedBatch,
    maxBatch: fixedBatch ?? cfg.max_batch_size ?? d.maxBatch,
    instances: cfg.instances ?? d.workers,
    threads: cfg.threads ?? d.threads,
    mixer,
    warnings,
  };
}

/** Decoded pixels (H×W×C uint8, C = the contract's channels, RGB order) → the input tensor's bytes for one image. */
export function pixelsToInput(px: Uint8Array, c: ImageContract): Uint8Array {
  const { height: h, width: w, channels: ch } = c;
  const hw = h * w;
  const order = c.color === 'bgr' ? [2, 1, 0] : ch === 3 ? [0, 1, 2] : [0];
  if (c.dtype === 'uint8') {
    if (c.layout === 'NHWC' && c.color !== 'bgr') return px;
    const out = new Uint8Array(hw * ch);
    for (let i = 0; i < hw; i++)
      for (let k = 0; k < ch; k++) out[c.layout === 'NCHW' ? k * hw + i : i * ch + k] = px[i * ch + order[k]!]!;
    return out;
  }
  const out = new Float32Array(hw * ch);
  for (let k = 0; k < ch; k++) {
    const src = order[k]!;
    for (let i = 0; i < hw; i++)
      out[c.layout === 'NCHW' ? k * hw + i : i * ch + k] = (px[i * ch + src]! * c.scale - c.mean[k]!) / c.std[k]!;
  }
  return new Uint8Array(out.buffer);
}

/**
 * Parameters counted from the initializers: for onnx-mixer models those named in its parameter table (leaving out the
 * folded mean/std constants), for other models every floating-point initializer of rank >= 1.
 */
export function countParameters(io: ModelInterface): number {
  if (io.metadata['mixer.config'] === undefined) return io.parameters;
  try {
    const names = paramTable(specFromMetadata(io.metadata).config).map((p) => p.name);
    // An int8 model keeps a quantized layer's weight and (static) bias as `<name>_quantized`.
    return names.reduce((n, name) => n + (io.weights[name] ?? io.weights[`${name}_quantized`] ?? 0), 0);
  } catch {
    return io.parameters;
  }
}
