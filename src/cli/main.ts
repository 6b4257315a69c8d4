#!/usr/bin/env node
// `mixer` command line: dispatches to one module per subcommand; user errors print one line and exit 2, bugs a stack and exit 1.
import { UsageError } from './args.js';
import { reportFailure } from './failure.js';
import { COMMANDS } from './registry.js';

async function usage(): Promise<string> {
  const lines = ['usage: mixer <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Details: mixer <command> --help', '');
  lines.push('ONNX Runtime telemetry is off; --ort-telemetry (any command) or MIXER_ORT_TELEMETRY=1 turns it on.', '');
  for (const [name, c] of Object.entries(COMMANDS)) {
    const m = await c.load();
    lines.push(`---- ${name}`, m.help, '');
  }
  return lines.join('\n');
}

async function main(all: string[]): Promise<number> {
  // --ort-telemetry (any command): the only way besides MIXER_ORT_TELEMETRY=1 to let ONNX Runtime send telemetry.
  // Handled before any command module (and with it onnxruntime-node) is loaded.
  const argv = all.filter((a) => a !== '--ort-telemetry');
  if (argv.length !== all.length) process.env['MIXER_ORT_TELEMETRY'] = '1';
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(`${await usage()}\n`);
    return cmd ? 0 : 2;
  }
  const entry = COMMANDS[cmd];
  if (!entry) throw new UsageError(`unknown command "${cmd}". Should be one of: ${Object.keys(COMMANDS).join(', ')}`);
  const mod = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${mod.help}\n`);
    return 0;
  }
  return mod.run(rest);
}

/** A user's mistake is one line on stderr and exit code 2 (MIXER_DEBUG=1 adds the stack); a bug prints its stack, exit 1. */
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = reportFailure(e, (s) => process.stderr.write(s), Boolean(process.env['MIXER_DEBUG']));
  },
);
