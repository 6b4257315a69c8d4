// The project's one error model: every error it throws on purpose has a stable `code`, its wrapped error as `cause`,
// and says whether the input (not the program) is at fault, which decides the CLI's exit code (2) and its one-line message.
import { CodedError } from 'onnx-mixer-client';

/** Node's own error codes that mean a problem with the user's files or machine, never with the program. */
const SYSTEM_USER_CODES: ReadonlySet<string> = new Set([
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'EACCES',
  'EPERM',
  'EEXIST',
  'ENOSPC',
  'EROFS',
  'EMFILE',
  'ENAMETOOLONG',
  'EADDRINUSE',
  'EADDRNOTAVAIL',
]);

/** Base of every error class of the project (a machine-readable `code`, the standard ES2022 `cause`, `userFault`): it
 * lives in the client package, whose MixerError extends it too. */
export { CodedError };

/** A problem with what the user gave (flags, files, data, a model): the message says what to fix. */
export class UserError extends CodedError {
  override get userFault(): boolean {
    return true;
  }
}

/** A bad command line or option (flag, value, combination): one line on stderr, exit code 2. */
export class UsageError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', message, options);
  }
}

/** An invalid model shape, preset, metadata or service setting (the model's and the service's configuration alike). */
export class ConfigError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/** True for errors the user can fix (a UserError, a coded error that says so, or a missing/unwritable file or port). */
export function isUserFault(e: unknown): boolean {
  if (e instanceof CodedError) return e.userFault;
  const x = e as { code?: unknown; syscall?: unknown } | null;
  return (
    e instanceof Error && typeof x?.code === 'string' && typeof x.syscall === 'string' && SYSTEM_USER_CODES.has(x.code)
  );
}

/** The first line of an error's message, for one-line reports. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!;
}
