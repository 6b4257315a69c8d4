// Model and version names: one strict form, checked by every route (HTTP and gRPC) and by the repository scanner.
import { echo, ServiceError } from '../errors.js';

/** 1-128 of letters, digits, '_', '.', '-', not starting with '.' or '-': no `.`, `..`, separators or encoded forms. */
export const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export const MODEL_NAME_RULE =
  "a model name is 1-128 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'";
export const VERSION_RULE = `a version is a positive integer up to ${Number.MAX_SAFE_INTEGER}, without leading zeros`;

export function isModelName(name: string): boolean {
  return MODEL_NAME.test(name);
}

/** The version a folder or request names, or null when it is not a canonical safe positive integer. */
export function parseVersion(v: string): number | null {
  if (!/^[1-9]\d{0,15}$/.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

/** A request's model name, or 400 BAD_REQUEST saying the form (the name echoed, bounded). */
export function checkModelName(name: string): string {
  if (!isModelName(name)) throw new ServiceError('BAD_REQUEST', `invalid model name ${echo(name)}: ${MODEL_NAME_RULE}`);
  return name;
}

/** A request's version, or 400 BAD_REQUEST saying the form. */
export function checkVersion(v: string): number {
  const n = parseVersion(v);
  if (n === null) throw new ServiceError('BAD_REQUEST', `invalid model version ${echo(v)}: ${VERSION_RULE}`);
  return n;
}
