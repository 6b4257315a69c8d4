// `mixer info`: config, parameter count, forward FLOPs, inputs/outputs and opset of a model.
import { forwardMacs, loadModelFile, paramCount } from '../../model/index.js';
import { parse } from '../args.js';
import { UsageError } from '../args.js';

export const help = `mixer info <model.onnx> [--json]`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, { json: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UsageError('mixer info: give exactly one model path');
  const m = await loadModelFile(positionals[0]!);
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
    parameters: paramCount(c),
    forward_mflops_per_image: (2 * forwardMacs(c)) / 1e6,
    inputs: io(m.parsed.inputs),
    outputs: io(m.parsed.outputs),
    nodes: m.parsed.nodeCount,
    op_types: m.parsed.opTypes,
    training: m.parsed.metadata['mixer.training'] ? JSON.parse(m.parsed.metadata['mixer.training']) : null,
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
  }
  return 0;
}
