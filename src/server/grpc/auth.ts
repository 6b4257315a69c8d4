// API keys for gRPC calls: `authorization: Bearer <key>` metadata checked against the server's key list (none set: open).
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { ServerConfig } from '../config.js';

/**
 * The API keys the server accepts: the key-list setting when the configuration has one (`apiKeys`), else none.
 * This is the one place gRPC reads keys from, so HTTP and gRPC share a list.
 */
export function configuredApiKeys(config: ServerConfig): readonly string[] {
  const keys = (config as ServerConfig & { apiKeys?: unknown }).apiKeys;
  return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string' && k !== '') : [];
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Null when the call may go on, else why not. Compared in constant time (on digests, so lengths do not leak). */
export function checkApiKey(metadata: Metadata, keys: readonly string[]): string | null {
  if (keys.length === 0) return null;
  const values = metadata.get('authorization');
  const header = typeof values[0] === 'string' ? values[0] : '';
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!m) return 'missing API key: send metadata "authorization: Bearer <key>"';
  const given = digest(m[1]!);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(given, digest(k)) || ok;
  return ok ? null : 'invalid API key';
}
