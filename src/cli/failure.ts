// How the CLI reports a failure: a user's mistake is one line and exit code 2; anything else is a bug: exit 1 with the stack.
import { inspect } from 'node:util';
import { firstLine, isUserFault } from '../util/errors.js';

/** Exit code for a user's mistake (bad flags, missing files, an invalid model, bad data). */
export const EXIT_USER = 2;
/** Exit code for a bug: an error the program did not expect. */
export const EXIT_BUG = 1;

/**
 * Writes the report of a failed command to `write` and returns the exit code. User errors (see isUserFault) print
 * `mixer: <first line>` (plus the stack with `debug`); any other error prints the whole error with its stack and
 * causes, since only a fix in the program can help.
 */
export function reportFailure(e: unknown, write: (text: string) => void, debug = false): number {
  if (isUserFault(e)) {
    write(`mixer: ${firstLine(e)}\n`);
    if (debug && e instanceof Error) write(`${inspect(e)}\n`);
    return EXIT_USER;
  }
  write(`mixer: internal error (a bug; please report it with the command line): ${firstLine(e)}\n`);
  write(`${e instanceof Error ? inspect(e) : String(e)}\n`);
  return EXIT_BUG;
}
