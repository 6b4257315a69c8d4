// The process's open-file limit (`ulimit -n`, read from /proc/self/limits) and the share of it the gRPC port may hold.
import { readFileSync } from 'node:fs';

/** Below this soft limit the service warns at start: a connection flood on either port can use up the descriptors. */
export const LOW_FD_LIMIT = 4096;

/** Most gRPC connections by default, however high the limit (each idle HTTP/2 session still holds memory). */
const MAX_DEFAULT_GRPC_CONNECTIONS = 1024;

/** The soft limit on open files, or null where it cannot be read (not Linux) or is unlimited. */
export function openFileLimit(limits = '/proc/self/limits'): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync(limits, 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * The default cap on gRPC connections: a quarter of the open-file limit (at most 1024), so that a flood of gRPC
 * connections leaves the HTTP port, model files and logs most of the descriptors.
 */
export function defaultGrpcConnections(limit = openFileLimit()): number {
  if (limit === null) return MAX_DEFAULT_GRPC_CONNECTIONS;
  return Math.max(16, Math.min(MAX_DEFAULT_GRPC_CONNECTIONS, Math.floor(limit / 4)));
}
