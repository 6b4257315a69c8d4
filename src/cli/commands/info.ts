// `mixer info`: config, parameter count and FLOPs (from the graph), inputs/outputs and opset of a model; the serving contract of foreign models.
import { ModelLoadError, parseLoadedModel } from '../../model/index.js';
import { V2_TYPES } from '../../server/core/datatypes.js';
import { countParameters } from '../../server/repository/contract.js';
import { parse, str, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, synopsis } from '../flags.js';
import { type LocalModel, openLocalModel } from '../model-file.js';

export const flags: readonly Flag[] = [
  { flag: 'config', kind: 'string', arg: 'config.json', help: "a foreign model's serving config" },
  { flag: 'labels', kind: 'string', arg: 'labels.txt', help: "a foreign model's class names" },
  { flag: 'json', kind: 'boolean', help: 'print JSON' },
];
export const args = '<model.onnx>';

export const help = `${synopsis('info', flags, { args })}
  Parameters are counted from the initializers; FLOPs are estimated from the graph's MatMul, Gemm and Conv nodes.
  Models not written by onnx-mixer: prints the serving contract derived from the graph (and --config, --labels).
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, flagOptions(flags), true);
  if (positionals.length !== 1) throw new UsageError('mixer info: give exactly one model path');
  const lm = await openLocalModel(positionals[0]!, {
    ...(v['config'] !== undefined ? { config: str(v, 'config') } : {}),
    ...(v['labels'] !== undefined ? { labels: str(v, 'labels') } : {}),
  });
  if (!lm.contract.mixer) return foreign(lm, v['json'] === true);
  // The bytes already read: parsed in full for the config, metadata and node counts.
  const m = parseLoadedModel(positionals[0]!, lm.bytes, lm.sha256);
  const c = m.spec.config;
  const io = (vs: typeof m.parsed.inputs) => vs.map((x) => `${x.name}: ${x.dtype} [${x.shape.join(', ')}]`);
  const info = {
    path: m.path,
    sha256: m.sha256,
    bytes: m.bytes.length,
    opset: m.parsed.opset,
    ir_version: m.parsed.irVersion,
    config: c,
    labels: m.spec.labels,
    mean: m.spec.mean,
    std: m.spec.std,
    parameters: countParameters(lm.io),
    forward_mflops_per_image: (2 * lm.io.macs) / 1e6,
    inputs: io(m.parsed.inputs),
    outputs: io(m.parsed.outputs),
    nodes: m.parsed.nodeCount,
    op_types: m.parsed.opTypes,
    training: trainingOf(m.path, m.parsed.metadata['mixer.training']),
    channel_tiles: m.parsed.metadata['mixer.channel_tiles'] ?? null,
    quantization: m.parsed.metadata['mixer.quantization'] ?? null,
  };
  if (v['json']) console.log(JSON.stringify(info, null, 2));
  else {
    console.log(`model       ${info.path} (${(info.bytes / 1e6).toFixed(2)} MB, sha256 ${info.sha256.slice(0, 16)}…)`);
    console.log(`opset       ${info.opset} (IR ${info.ir_version}), ${info.nodes} nodes: ${info.op_types.join(', ')}`);
    console.log(`config      ${JSON.stringify(c)}`);
    console.log(`parameters  ${info.parameters.toLocaleString('en-US')}`);
    console.log(`forward     ${info.forward_mflops_per_image.toFixed(1)} MFLOP per image`);
    console.log(`inputs      ${info.inputs.join('; ')}`);
    console.log(`outputs     ${info.outputs.join('; ')}`);
    console.log(`labels      ${info.labels.join(', ')}`);
    console.log(`normalize   mean ${JSON.stringify(info.mean)} std ${JSON.stringify(info.std)}`);
    if (info.training) console.log(`training    ${JSON.stringify(info.training)}`);
    if (info.channel_tiles) console.log(`tiling      ${info.channel_tiles} (channel MLPs in row blocks)`);
    if (info.quantization) console.log(`int8        ${info.quantization}`);
  }
  return 0;
}

/** A model onnx-mixer did not write: its I/O, counts and the contract the server would serve it with. */
function foreign(m: LocalModel, json: boolean): number {
  const io = (vs: typeof m.io.inputs) =>
    vs.map((x) => `${x.name}: ${x.type} [${x.shape.map((d) => d ?? '?').join(', ')}]`);
  const c = m.contract;
  const info = {
    path: m.path,
    sha256: m.sha256,
    bytes: m.bytes.length,
    opset: m.io.opset,
    ir_version: m.io.irVersion,
    parameters: countParameters(m.io),
    forward_mflops_per_image: (2 * m.io.macs) / 1e6,
    inputs: io(m.io.inputs),
    outputs: io(m.io.outputs),
    v2: { inputs: m.io.inputs.map((x) => V2_TYPES[x.type]), outputs: m.io.outputs.map((x) => V2_TYPES[x.type]) },
    nodes: m.io.nodeCount,
    op_types: m.io.opTypes,
    classifier: c.image,
    not_classifier_reason: c.notImage,
    labels: c.labels,
    batch: c.fixedBatch === null ? 'dynamic' : `fixed ${c.fixedBatch}`,
    external_data: m.io.externalData,
  };
  if (json) console.log(JSON.stringify(info, null, 2));
  else {
    console.log(`model       ${info.path} (${(info.bytes / 1e6).toFixed(2)} MB, sha256 ${info.sha256.slice(0, 16)}…)`);
    console.log(`opset       ${info.opset} (IR ${info.ir_version}), ${info.nodes} nodes: ${info.op_types.join(', ')}`);
    console.log(`parameters  ${info.parameters.toLocaleString('en-US')}`);
    console.log(`forward     ${info.forward_mflops_per_image.toFixed(1)} MFLOP per image (MatMul, Gemm, Conv)`);
    console.log(`inputs      ${info.inputs.join('; ')}`);
    console.log(`outputs     ${info.outputs.join('; ')}`);
    console.log(`batch       ${info.batch}`);
    const k = c.image;
    if (k) {
      console.log(
        `classifier  input ${k.input} ${k.dtype} ${k.layout} ${k.channels}x${k.height}x${k.width}, output ${k.output}${k.softmax ? ' (softmax applied)' : ' (already probabilities)'}`,
      );
      console.log(
        `preprocess  resize ${k.resize}${k.resizeShorter ? ` (shorter side ${k.resizeShorter})` : ''}, ${k.color}${k.dtype === 'float32' ? `, (pixel*${k.scale.toPrecision(4)} - ${JSON.stringify(k.mean)}) / ${JSON.stringify(k.std)}` : ', raw uint8 pixels'}`,
      );
      console.log(
        `labels      ${c.labels ? c.labels.slice(0, 20).join(', ') + (c.labels.length > 20 ? ', …' : '') : 'class indices'}`,
      );
    } else console.log(`classifier  no: ${c.notImage} (served over /v2 only)`);
  }
  return 0;
}

/** The model's `mixer.training` metadata (how it was trained), or null; invalid JSON is a bad model file. */
function trainingOf(file: string, text: string | undefined): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`${file}: metadata 'mixer.training' is not valid JSON`, { cause: e });
  }
}
