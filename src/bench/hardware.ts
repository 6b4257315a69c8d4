// The hardware label every benchmark prints and writes: CPU model, the SIMD/AMX flags that matter, cores, ORT and Node versions, threads.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { ortVersion } from '../runtime/ort-version.js';

/** The CPU flags that decide which GEMM kernels ONNX Runtime's MLAS picks (float32 and int8), as /proc/cpuinfo names them. */
export const CPU_FLAGS = ['amx_int8', 'amx_bf16', 'amx_tile', 'avx512_vnni', 'avx_vnni', 'avx512f', 'avx2'] as const;
export type CpuFlag = (typeof CPU_FLAGS)[number];

/** What /proc/cpuinfo says: the model name, which of CPU_FLAGS are present (null: no flags line), logical CPUs. */
export interface CpuInfo {
  model: string | null;
  flags: Record<CpuFlag, boolean> | null;
  logicalCpus: number | null;
}

export interface Hardware {
  cpu: string;
  /** Each of CPU_FLAGS present or not; "unknown" off Linux or when /proc/cpuinfo has no flags line. */
  flags: Record<CpuFlag, boolean> | 'unknown';
  /** CPUs this process may run on (os.availableParallelism). */
  cores: number;
  /** Logical CPUs of the machine (/proc/cpuinfo, else os.cpus()). */
  logicalCpus: number;
  onnxruntimeNode: string;
  node: string;
  /** The thread count(s) this benchmark uses, as it describes them (e.g. "1,2" or "2 workers × 1 ORT thread"). */
  threads: string;
}

/** Parses /proc/cpuinfo text (the first processor's model name and flags; x86 "flags", or "Features" elsewhere). */
export function parseCpuinfo(text: string): CpuInfo {
  const field = (name: string): string | null => {
    const m = new RegExp(`^${name}\\s*:(.*)$`, 'm').exec(text);
    return m ? m[1]!.trim() : null;
  };
  const model = field('model name') || field('Model') || field('Hardware') || null;
  const line = field('flags') ?? field('Features');
  const have = new Set((line ?? '').split(/\s+/));
  const flags =
    line === null ? null : (Object.fromEntries(CPU_FLAGS.map((f) => [f, have.has(f)])) as Record<CpuFlag, boolean>);
  const processors = text.match(/^processor\s*:/gm)?.length ?? 0;
  return { model, flags, logicalCpus: processors > 0 ? processors : null };
}

/** This machine's label; `threads` says what thread count the benchmark uses. `cpuinfo` replaces /proc/cpuinfo (tests). */
export function hardware(threads: string, cpuinfo?: string): Hardware {
  let info: CpuInfo = { model: null, flags: null, logicalCpus: null };
  const text = cpuinfo ?? (process.platform === 'linux' ? readOr('/proc/cpuinfo') : null);
  if (text !== null) info = parseCpuinfo(text);
  return {
    cpu: info.model ?? os.cpus()[0]?.model.trim() ?? 'unknown',
    flags: info.flags ?? 'unknown',
    cores: os.availableParallelism(),
    logicalCpus: info.logicalCpus ?? os.cpus().length,
    onnxruntimeNode: ortVersion(),
    node: process.version,
    threads,
  };
}

function readOr(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** "amx_int8 yes, …, avx2 no", or "unknown". */
export function flagsText(hw: Hardware): string {
  if (hw.flags === 'unknown') return 'unknown (no /proc/cpuinfo flags)';
  const f = hw.flags;
  return CPU_FLAGS.map((k) => `${k} ${f[k] ? 'yes' : 'no'}`).join(', ');
}

/** The header lines printed above a benchmark's table. */
export function hardwareHeader(hw: Hardware): string {
  return [
    `cpu: ${hw.cpu}; ${hw.cores} cores usable of ${hw.logicalCpus} logical CPUs`,
    `cpu flags: ${flagsText(hw)}`,
    `onnxruntime-node ${hw.onnxruntimeNode}, Node ${hw.node}; threads: ${hw.threads}`,
  ].join('\n');
}

/** The label on one line (for reports that have one line for it). */
export function hardwareLine(hw: Hardware): string {
  return `${hw.cpu}, ${hw.cores} cores usable of ${hw.logicalCpus}; flags: ${flagsText(hw)}; onnxruntime-node ${hw.onnxruntimeNode}, Node ${hw.node}; threads: ${hw.threads}`;
}

/** The kernels ONNX Runtime's int8 GEMMs (u8×s8) can use on this CPU, best first. */
export function int8Kernels(hw: Hardware): string {
  if (hw.flags === 'unknown') return 'unknown kernels (CPU flags unknown)';
  const f = hw.flags;
  if (f.amx_int8 && f.amx_tile) return 'AMX';
  if (f.avx512_vnni) return 'AVX512-VNNI';
  if (f.avx_vnni) return 'AVX-VNNI';
  if (f.avx512f) return 'AVX512';
  if (f.avx2) return 'AVX2';
  return 'SSE';
}

/** A line for int8 benchmarks when AMX is absent (or unknown): which kernels the figures come from; null when AMX is there. */
export function amxNote(hw: Hardware, what = 'the int8 roofline'): string | null {
  if (hw.flags === 'unknown') return `CPU flags unknown: cannot tell whether ${what} runs on AMX`;
  if (hw.flags.amx_int8 && hw.flags.amx_tile) return null;
  return `amx_int8 absent: ${what} runs on ${int8Kernels(hw)} kernels`;
}
