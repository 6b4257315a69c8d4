// Access for gRPC calls: exactly one `authorization: Bearer <key>` metadata entry, checked against the server's KeyRing (none set: open), then the key's scope for the method and its rate limit (access/).
import * as grpc from '@grpc/grpc-js';
import type { Access } from '../access/gate.js';
import type { KeyEntry, KeyRing } from '../access/key-ring.js';
import { grpcScope } from '../access/scopes.js';
import type { ErrorCode } from '../errors.js';

/**
 * The key a call presents (null when keys are off), or why it is refused. `values` are every `authorization` entry
 * the call sent: two or more are refused whatever they hold (which one a proxy or library would pick is not defined).
 * The ring compares in constant time (on SHA-256 digests).
 */
export function callKey(values: readonly string[], ring: KeyRing): KeyEntry | null | string {
  if (!ring.enabled) return null;
  if (values.length > 1)
    return `${values.length} authorization entries: send exactly one "authorization: Bearer <key>"`;
  const header = values[0]?.trim() ?? '';
  if (header === '') return 'missing API key: send metadata "authorization: Bearer <key>"';
  return ring.identify(header) ?? 'invalid API key';
}

/** Null when the call may go on, else why not. */
export function checkApiKey(values: readonly string[], ring: KeyRing): string | null {
  const k = callKey(values, ring);
  return typeof k === 'string' ? k : null;
}

/** A call's refusal: its status, message and catalogued code (`mixer-code`), and for a rate limit when to retry. */
export interface CallRefusal {
  code: grpc.status;
  details: string;
  mixerCode: ErrorCode;
  retryAfterS?: number;
}

/** Null when a call to `path` from `address` may go on: the key (UNAUTHENTICATED), its scope (PERMISSION_DENIED), its rate (RESOURCE_EXHAUSTED). */
export function checkCall(
  values: readonly string[],
  access: Access,
  address: string,
  path: string,
): CallRefusal | null {
  const key = callKey(values, access.keys);
  if (typeof key === 'string') return { code: grpc.status.UNAUTHENTICATED, details: key, mixerCode: 'UNAUTHORIZED' };
  const v = access.authorize(key, address, grpcScope(path));
  if (!v.denied) return null;
  if (v.denied.code === 'FORBIDDEN')
    return { code: grpc.status.PERMISSION_DENIED, details: v.denied.message, mixerCode: 'FORBIDDEN' };
  return {
    code: grpc.status.RESOURCE_EXHAUSTED,
    details: v.denied.message,
    mixerCode: 'RATE_LIMITED',
    retryAfterS: v.limit!.taken.retryAfterS,
  };
}
