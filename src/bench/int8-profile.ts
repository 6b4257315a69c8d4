// Where an int8 model's time goes, from one profiled session (ORT's profiler): the share of kernel time in int8 GEMM kernels.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type HostTensor, Session } from '../runtime/session.js';

/** ORT's int8 GEMM kernels, as they are named after its fusions (DynamicQuantizeMatMul includes quantizing its input). */
export const INT8_GEMM_OPS: ReadonlySet<string> = new Set([
  'MatMulInteger',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'QGemm',
  'QLinearMatMul',
  'ConvInteger',
  'QLinearConv',
]);

/** Nodes whose kernel time contains their subgraphs' nodes, which the trace also lists: left out of the total. */
const CONTAINERS: ReadonlySet<string> = new Set(['If', 'Loop', 'Scan']);

export interface KernelTimes {
  /** Kernel µs per op type, over the runs counted. */
  byOp: Record<string, number>;
  /** µs in INT8_GEMM_OPS. */
  int8Gemm: number;
  /** µs in all kernels (containers left out). */
  total: number;
  /** Runs counted. */
  runs: number;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

/**
 * Sums the kernel times in an ORT profiler trace (a JSON array of Chrome trace events) by op type, counting only the
 * nodes inside `model_run` events after the first `skip` runs (warm-up).
 */
export function kernelTimes(trace: unknown, skip = 1): KernelTimes {
  if (!Array.isArray(trace)) throw new Error('an ORT profile is a JSON array of trace events');
  const events = trace as TraceEvent[];
  const runs = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run')
    .sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0))
    .slice(skip);
  const inRun = (ts: number): boolean => runs.some((r) => ts >= (r.ts ?? 0) && ts <= (r.ts ?? 0) + (r.dur ?? 0));
  const byOp: Record<string, number> = {};
  let int8Gemm = 0;
  let total = 0;
  for (const e of events) {
    const op = e.args?.op_name;
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !op || CONTAINERS.has(op)) continue;
    if (!inRun(e.ts ?? -1)) continue;
    const us = e.dur ?? 0;
    byOp[op] = (byOp[op] ?? 0) + us;
    total += us;
    if (INT8_GEMM_OPS.has(op)) int8Gemm += us;
  }
  return { byOp, int8Gemm, total, runs: runs.length };
}

/** Runs `model` `runs` + 1 times under ORT's profiler (the first is warm-up) and sums its kernel times. */
export async function profileKernels(
  model: Uint8Array | string,
  threads: number,
  feeds: Record<string, HostTensor>,
  runs = 5,
): Promise<KernelTimes> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-profile-'));
  try {
    const s = await Session.create(model, { threads, profile: path.join(dir, 'ort') });
    for (let i = 0; i <= runs; i++) await s.run(feeds);
    s.endProfiling();
    await s.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('ORT wrote no profile');
    return kernelTimes(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
