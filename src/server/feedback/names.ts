// What may name a folder of the feedback store: a model name (the repository's rule) and a label, each one path segment.
import { echo, ServiceError } from '../errors.js';
import { isModelName, MODEL_NAME_RULE } from '../repository/names.js';

/** The longest label, in UTF-8 bytes, that becomes a folder name (file systems allow 255). */
const MAX_LABEL_BYTES = 200;

/**
 * Why `label` cannot be a class folder, or null when it can: one non-empty path segment (no `/`, `\`, NUL or control
 * characters, not `.` or `..`), not hidden (the folder loader skips names starting with `.`), at most 200 UTF-8 bytes.
 */
export function labelFolderProblem(label: string): string | null {
  if (label === '') return 'it is empty';
  if (Buffer.byteLength(label, 'utf8') > MAX_LABEL_BYTES) return `it is longer than ${MAX_LABEL_BYTES} bytes`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects.
  if (/[/\\\u0000-\u001f\u007f]/.test(label)) return 'it holds a path separator or a control character';
  if (label.startsWith('.')) return "it starts with '.' (hidden folders are skipped by mixer train)";
  if (label.trim() !== label) return 'it starts or ends with a space';
  return null;
}

/** The model's name as a folder: the repository's rule (no separators, no `.`/`..`), else 400 BAD_REQUEST. */
export function modelFolder(name: string): string {
  if (!isModelName(name)) throw new ServiceError('BAD_REQUEST', `invalid model name ${echo(name)}: ${MODEL_NAME_RULE}`);
  return name;
}

/** The label as a folder, else 400 BAD_REQUEST saying why (the label echoed, bounded). */
export function labelFolder(label: string): string {
  const why = labelFolderProblem(label);
  if (why) throw new ServiceError('BAD_REQUEST', `the label ${echo(label)} cannot name a folder: ${why}`);
  return label;
}
