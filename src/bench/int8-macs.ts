// Counts the int8 multiply-adds per image of an onnx-mixer int8 model: its quantized Linear layers, from their weight initializers.
import { type MixerConfig, numTokens } from '../model/index.js';
import { inspectModel } from '../onnx/index.js';

/**
 * Multiply-adds per image in the int8 GEMMs (MatMulInteger, or QGemm after ORT's QDQ fusion) of an int8 model written
 * by `mixer quantize`: each `<layer>.weight_quantized` [in, out] runs on C rows per image in the token-mixing MLPs
 * (transposed activations [N·C, S]) and on S rows per image in the channel MLPs ([N·S, C]). 0 for a float model.
 */
export function int8MacsPerImage(bytes: Uint8Array, c: MixerConfig): number {
  const rows = { mlp_tokens: c.hidden_dim, mlp_channels: numTokens(c) };
  let macs = 0;
  for (const [name, size] of Object.entries(inspectModel(bytes).weights)) {
    const m = /\.(mlp_tokens|mlp_channels)\.fc\d\.weight_quantized$/.exec(name);
    if (m) macs += rows[m[1] as keyof typeof rows] * size;
  }
  return macs;
}
