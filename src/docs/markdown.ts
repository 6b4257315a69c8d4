// What the docs tests read from markdown: fenced code blocks with their info strings, heading anchors as GitHub
// makes them, and links.

export interface Fence {
  /** The info string after the opening fence, e.g. `sh runnable`. */
  info: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** The fenced (```) code blocks of a markdown text, in order. */
export function fences(text: string): Fence[] {
  const out: Fence[] = [];
  const lines = text.split('\n');
  let open: { info: string; line: number; body: string[] } | null = null;
  lines.forEach((l, i) => {
    if (open) {
      if (/^```\s*$/.test(l)) {
        out.push({ info: open.info, body: open.body.join('\n'), line: open.line });
        open = null;
      } else open.body.push(l);
    } else {
      const m = /^```(.*)$/.exec(l);
      if (m) open = { info: m[1]!.trim(), line: i + 1, body: [] };
    }
  });
  return out;
}

/** The text with fenced blocks blanked (their lines kept empty, so line numbers stay). */
function outsideFences(text: string): string {
  let inside = false;
  return text
    .split('\n')
    .map((l) => {
      if (/^```/.test(l)) {
        inside = !inside;
        return '';
      }
      return inside ? '' : l;
    })
    .join('\n');
}

/** GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown text's headings (a repeated heading gets -1, -2, … as on GitHub). */
export function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of outsideFences(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const s = slug(m[1]!);
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    out.add(n === 0 ? s : `${s}-${n}`);
  }
  return out;
}

/** The inline links and images of a markdown text outside code: target and 1-based line. */
export function links(text: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  outsideFences(text)
    .split('\n')
    .forEach((l, i) => {
      const plain = l.replace(/`[^`]*`/g, '');
      for (const m of plain.matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)) out.push({ target: m[1]!, line: i + 1 });
    });
  return out;
}
