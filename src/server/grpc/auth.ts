// API keys for gRPC calls: exactly one `authorization: Bearer <key>` metadata entry, checked against the server's KeyRing (none set: open).
import type { KeyRing } from '../auth.js';

/**
 * Null when the call may go on, else why not. `values` are every `authorization` entry the call sent: two or more are
 * refused whatever they hold (which one a proxy or library would pick is not defined). The ring compares in constant
 * time (on SHA-256 digests).
 */
export function checkApiKey(values: readonly string[], ring: KeyRing): string | null {
  if (!ring.enabled) return null;
  if (values.length > 1)
    return `${values.length} authorization entries: send exactly one "authorization: Bearer <key>"`;
  const header = values[0]?.trim() ?? '';
  if (header === '') return 'missing API key: send metadata "authorization: Bearer <key>"';
  return ring.allows(header) ? null : 'invalid API key';
}
