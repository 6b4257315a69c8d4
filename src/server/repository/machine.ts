// What one machine can give the models: cores (os.availableParallelism), memory (os.totalmem, capped by the cgroup's memory.max), and the check that a model fits.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ModelContract } from './contract.js';

/** ORT threads one model may start (instances × threads): this many per core, and at least MIN_THREADS. */
export const THREADS_PER_CORE = 4;
export const MIN_THREADS = 8;
/** Share of the machine's memory the loaded models' estimates may add up to. */
export const MEMORY_SHARE = 0.8;
/** Activations and scratch of one run, as a multiple of its input batch (a measured conv net kept about 4×). */
export const ACTIVATION_FACTOR = 4;

export interface MachineLimits {
  cores: number;
  memoryBytes: number;
  /** Where memoryBytes comes from, for messages. */
  memorySource: string;
}

/** The cgroup v2 memory limit, or null when there is none (or it cannot be read). */
function cgroupMemoryMax(file = '/sys/fs/cgroup/memory.max'): number | null {
  try {
    const v = readFileSync(file, 'utf8').trim();
    const n = Number(v);
    return /^\d+$/.test(v) && Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function machineLimits(): MachineLimits {
  const total = os.totalmem();
  const cg = cgroupMemoryMax();
  return cg !== null && cg < total
    ? { cores: os.availableParallelism(), memoryBytes: cg, memorySource: 'the cgroup limit /sys/fs/cgroup/memory.max' }
    : { cores: os.availableParallelism(), memoryBytes: total, memorySource: "this machine's memory (os.totalmem)" };
}

const mb = (n: number): string => `${Math.ceil(n / 2 ** 20)} MiB`;

/** Memory a model version holds once warm: the model bytes kept for its workers plus, per instance, its session and a full batch's activations. */
export function memoryEstimate(c: ModelContract, modelBytes: number): number {
  const batch = c.image ? c.maxBatch * c.image.itemBytes * ACTIVATION_FACTOR : 0;
  return modelBytes + c.instances * (modelBytes + batch);
}

/** Why the model would not fit next to what is loaded (`inUse` bytes of estimates), or null when it fits. */
export function fitProblem(
  c: ModelContract,
  modelBytes: number,
  inUse: number,
  configPath: string,
  m: MachineLimits = machineLimits(),
): string | null {
  const maxThreads = Math.max(MIN_THREADS, THREADS_PER_CORE * m.cores);
  const threads = c.instances * c.threads;
  if (threads > maxThreads)
    return `${configPath}: "instances" ${c.instances} × "threads" ${c.threads} = ${threads} ORT threads, over this machine's limit of ${maxThreads} (${THREADS_PER_CORE} per core × ${m.cores} cores from os.availableParallelism(), at least ${MIN_THREADS}); lower "instances" or "threads" (or --workers / --threads)`;
  const need = memoryEstimate(c, modelBytes);
  const budget = Math.floor(m.memoryBytes * MEMORY_SHARE);
  if (inUse + need > budget) {
    const batch = c.image
      ? `, a batch of ${c.maxBatch} ${c.image.height}x${c.image.width}x${c.image.channels} images being ${mb(c.maxBatch * c.image.itemBytes)} of input`
      : '';
    return `${configPath}: ${c.instances} instance(s) need about ${mb(need)} (model ${mb(modelBytes)}${batch}), over the ${mb(budget - inUse)} left of the memory limit ${mb(budget)} (${Math.round(MEMORY_SHARE * 100)}% of ${mb(m.memoryBytes)}, ${m.memorySource})${inUse > 0 ? ` after the loaded models' ${mb(inUse)}` : ''}; lower "size", "max_batch_size" or "instances"`;
  }
  return null;
}
