// Splits a buffered multipart/form-data body (RFC 7578) into its parts: /classify's reader, far cheaper than a stream parser for the small uploads it gets.
import { ServiceError } from '../../errors.js';

export interface FormPart {
  /** The field name (Content-Disposition `name`), null when absent. */
  name: string | null;
  /** The `filename` (or `filename*`) parameter, its last path segment; '' when given empty, null when absent. */
  filename: string | null;
  /** The media type of its Content-Type, lower-cased; `text/plain` when it has none (RFC 7578 §4.4). */
  type: string;
  /** A file: it has a filename, or it is `application/octet-stream` (the rule of the stream parser it replaces). */
  file: boolean;
  /** Its bytes: a view into the body. */
  data: Buffer;
}

export interface FormLimits {
  /** File parts allowed; more: 413 TOO_MANY_FILES. */
  files: number;
  /** Parts of any kind allowed; more: 413 TOO_MANY_FILES. */
  parts: number;
  /** Bytes of one part's header block; more: 400 BAD_MULTIPART. */
  headerBytes: number;
}

/** Parts a form may carry besides its files (text fields such as `top`): /classify's and /v1/feedback's bound. */
export const MAX_FIELDS = 32;

const CRLF2 = Buffer.from('\r\n\r\n');
const BOUNDARY = /;\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i;

const bad = (why: string): ServiceError => new ServiceError('BAD_MULTIPART', `malformed multipart body: ${why}`);

/** The boundary of a multipart Content-Type (1 to 200 characters, no line breaks), or 400 BAD_MULTIPART. */
export function boundaryOf(contentType: string): string {
  const m = BOUNDARY.exec(contentType);
  const b = m ? (m[1]?.replace(/\\(.)/g, '$1') ?? m[2] ?? '') : '';
  if (b.length === 0 || b.length > 200 || /[\r\n]/.test(b))
    throw bad('the Content-Type has no usable boundary parameter (1 to 200 characters)');
  return b;
}

/**
 * The parts of `body`, in order: everything before the first delimiter (the preamble) and after the closing one (the
 * epilogue) is ignored, as are parts that are not `form-data` (no Content-Disposition, or another type). A body that
 * ends before its closing delimiter, a delimiter line with anything but whitespace after it, or an unterminated header
 * block is refused.
 */
export function formParts(body: Buffer, boundary: string, limits: FormLimits): FormPart[] {
  const open = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  let p: number;
  if (body.length >= open.length && body.compare(open, 0, open.length, 0, open.length) === 0) p = open.length;
  else {
    const first = body.indexOf(delim);
    if (first < 0) throw bad(`no "--${boundary.slice(0, 70)}" delimiter in the body`);
    p = first + delim.length;
  }
  const parts: FormPart[] = [];
  let seen = 0;
  let files = 0;
  for (;;) {
    if (body[p] === 0x2d && body[p + 1] === 0x2d) return parts; // the closing delimiter
    while (body[p] === 0x20 || body[p] === 0x09) p++; // transport padding (RFC 2046)
    if (body[p] !== 0x0d || body[p + 1] !== 0x0a)
      throw bad(
        p >= body.length ? 'the body ends before its closing delimiter' : 'a delimiter is not followed by CRLF',
      );
    p += 2;
    if (++seen > limits.parts)
      throw new ServiceError('TOO_MANY_FILES', `more than ${limits.parts} parts in the multipart body`);
    let headerEnd = p;
    let start = p + 2;
    if (body[p] !== 0x0d || body[p + 1] !== 0x0a) {
      headerEnd = body.indexOf(CRLF2, p);
      if (headerEnd < 0 || headerEnd - p > limits.headerBytes)
        throw bad(
          headerEnd < 0
            ? `part ${seen}'s headers do not end (truncated body?)`
            : `part ${seen}'s headers are longer than ${limits.headerBytes} bytes`,
        );
      start = headerEnd + 4;
    }
    const end = body.indexOf(delim, start);
    if (end < 0) throw bad(`part ${seen} is not closed by a delimiter (truncated body?)`);
    const part = partOf(body.toString('latin1', p, headerEnd), body.subarray(start, end));
    if (part?.file && ++files > limits.files)
      throw new ServiceError('TOO_MANY_FILES', `more than ${limits.files} files in one request (see MAX_FILES)`);
    if (part) parts.push(part);
    p = end + delim.length;
  }
}

/** A part from its header block (latin1, lines without the final CRLF) and bytes; null when it is not form-data. */
function partOf(headerBlock: string, data: Buffer): FormPart | null {
  let disposition: string | undefined;
  let contentType: string | undefined;
  // Lines, with obsolete folding (a line that starts with whitespace continues the previous one).
  const lines: string[] = [];
  for (const line of headerBlock.split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && lines.length > 0) lines[lines.length - 1] += line;
    else lines.push(line);
  }
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'content-disposition') disposition ??= line.slice(colon + 1);
    else if (name === 'content-type') contentType ??= line.slice(colon + 1);
  }
  if (disposition === undefined) return null;
  const d = headerParams(disposition);
  if (d.value !== 'form-data') return null;
  const name = d.params.get('name') ?? null;
  const given = d.params.get('filename*') ?? d.params.get('filename');
  // A bare line break in a name or filename makes the part unreadable, as in the stream parser.
  if (name?.includes('\r') || name?.includes('\n') || given?.includes('\r') || given?.includes('\n')) return null;
  const filename = given === undefined ? null : lastSegment(given);
  const type = (contentType === undefined ? '' : headerParams(contentType).value) || 'text/plain';
  return { name, filename, type, file: filename !== null || type === 'application/octet-stream', data };
}

/** A header value's first token (lower-cased) and its `;` parameters (names lower-cased; values unquoted, decoded). */
export function headerParams(header: string): { value: string; params: Map<string, string> } {
  const params = new Map<string, string>();
  const semi = header.indexOf(';');
  const value = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  let i = semi < 0 ? header.length : semi + 1;
  while (i < header.length) {
    const eq = header.indexOf('=', i);
    if (eq < 0) break;
    const end = header.indexOf(';', i);
    if (end >= 0 && end < eq) {
      i = end + 1; // a parameter without a value: skipped
      continue;
    }
    const key = header.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (header[i] === ' ' || header[i] === '\t') i++;
    let raw = '';
    if (header[i] === '"') {
      for (i++; i < header.length && header[i] !== '"'; i++)
        raw += header[i] === '\\' ? (header[++i] ?? '') : header[i];
      i++;
    } else {
      const next = header.indexOf(';', i);
      raw = header.slice(i, next < 0 ? header.length : next).trim();
      i = next < 0 ? header.length : next;
    }
    const next = header.indexOf(';', i);
    i = next < 0 ? header.length : next + 1;
    const decoded = key.endsWith('*') ? extValue(raw) : utf8(raw);
    if (key && decoded !== null && !params.has(key)) params.set(key, decoded);
  }
  return { value, params };
}

/** A header string read as latin1 holds the client's bytes: UTF-8 names (what browsers send) become text again. */
function utf8(latin1: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test is for any byte above ASCII
  return /[^\x00-\x7f]/.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

/** An RFC 8187 extended value, `charset'language'percent-encoded`, in UTF-8 or ISO-8859-1; null when unreadable. */
function extValue(raw: string): string | null {
  const m = /^([\w!#$%&+^`{}~-]*)'[^']*'(.*)$/.exec(raw);
  if (!m) return null;
  const charset = (m[1] ?? '').toLowerCase();
  const enc = charset === 'utf-8' || charset === 'utf8' ? 'utf8' : charset === 'iso-8859-1' ? 'latin1' : null;
  if (!enc) return null;
  const bytes = Buffer.from(
    (m[2] ?? '').replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  );
  return bytes.toString(enc);
}

/** A filename's last path segment ('' for `.` and `..`): a client's directory names are not the service's business. */
function lastSegment(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  return base === '.' || base === '..' ? '' : base;
}
