// The `mixer` synopsis as the docs show it: one entry per command (its arguments and every flag of its table, then its
// summary), rendered from the command registry and each command's flag table.
import { synopsis } from '../cli/flags.js';
import { COMMANDS, type Command } from '../cli/registry.js';

/** Where a summary starts (on a line of its own, further left if it is long), and the width it must fit in. */
const SUMMARY_COLUMN = 76;
const WIDTH = 120;

/** The fenced block; `commands` replaces the loaded command modules (e.g. a changed table). */
export async function cliSynopsis(commands?: Readonly<Record<string, Command>>): Promise<string> {
  const entries: string[] = [];
  for (const [name, c] of Object.entries(COMMANDS)) {
    const m = commands?.[name] ?? (await c.load());
    const lines = synopsis(name, m.flags, {
      pad: 10,
      width: SUMMARY_COLUMN + 40,
      ...(m.args ? { args: m.args } : {}),
    }).split('\n');
    const last = lines.at(-1)!;
    if (last.length < SUMMARY_COLUMN - 1 && SUMMARY_COLUMN + c.summary.length <= WIDTH)
      lines[lines.length - 1] = `${last.padEnd(SUMMARY_COLUMN)}${c.summary}`;
    else lines.push(`${' '.repeat(Math.min(SUMMARY_COLUMN, WIDTH - c.summary.length))}${c.summary}`);
    entries.push(lines.join('\n'));
  }
  return ['```', ...entries, '```'].join('\n');
}
