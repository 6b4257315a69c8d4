// API keys for gRPC calls: `authorization: Bearer <key>` metadata checked against the server's KeyRing (none set: open).
import type { Metadata } from '@grpc/grpc-js';
import type { KeyRing } from '../auth.js';

/** Null when the call may go on, else why not. The ring compares in constant time (on SHA-256 digests). */
export function checkApiKey(metadata: Metadata, ring: KeyRing): string | null {
  if (!ring.enabled) return null;
  const values = metadata.get('authorization');
  const header = typeof values[0] === 'string' ? values[0].trim() : '';
  if (header === '') return 'missing API key: send metadata "authorization: Bearer <key>"';
  return ring.allows(header) ? null : 'invalid API key';
}
