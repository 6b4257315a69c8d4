// safetensors read/write: 8-byte little-endian header length, JSON header, then raw little-endian tensor data.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';

export interface StTensor {
  dtype: 'F32' | 'F64' | 'I64' | 'U8';
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Uint8Array;
}

/** A safetensors file that cannot be read or does not follow the format. */
export class SafetensorsError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SAFETENSORS', message, options);
  }
}

const BYTES = { F32: 4, F64: 8, I64: 8, U8: 1 } as const;

export function encodeSafetensors(tensors: Map<string, StTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()];
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n)
      throw new SafetensorsError(`tensor '${name}': ${t.data.length} elements for shape [${t.shape.join(',')}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data section to 8 bytes
  const hbytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let pos = 8 + hbytes.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array): {
  tensors: Map<string, StTensor>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8) throw new SafetensorsError('file too short for a safetensors header');
  const hlen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (hlen > bytes.length - 8 || hlen > 100_000_000)
    throw new SafetensorsError('header length exceeds the file: not a safetensors file');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + hlen)).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new SafetensorsError('header is not JSON: not a safetensors file');
  }
  const base = 8 + hlen;
  const tensors = new Map<string, StTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(e.dtype in BYTES)) throw new SafetensorsError(`tensor '${name}': unsupported dtype ${e.dtype}`);
    const dtype = e.dtype as StTensor['dtype'];
    const [s, end] = e.data_offsets;
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (end - s !== n * BYTES[dtype] || base + end > bytes.length)
      throw new SafetensorsError(`tensor '${name}': data offsets do not match its shape or the file is truncated`);
    // A copy, aligned and owning its buffer (Buffer#slice would return a view into the whole file).
    const raw = new Uint8Array(bytes.subarray(base + s, base + end));
    const data =
      dtype === 'F32'
        ? new Float32Array(raw.buffer)
        : dtype === 'F64'
          ? new Float64Array(raw.buffer)
          : dtype === 'I64'
            ? new BigInt64Array(raw.buffer)
            : raw;
    tensors.set(name, { dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string): Promise<ReturnType<typeof decodeSafetensors>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SafetensorsError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
    });
  }
  return decodeSafetensors(bytes);
}

/** Writes atomically (a temporary sibling, then a rename). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, StTensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
