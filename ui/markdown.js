// A small Markdown renderer for training reports that builds DOM nodes with textContent only: no HTML from the file is ever parsed.
// Covers what reports use: headings, paragraphs, nested lists, tables, fenced code, `code`, **bold**, *em*, links, images.

/** @param {string} tag @param {string} [text] */
function el(tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}

const INLINE =
  /(`+)([^`]+?)\1|!\[([^\]]*)\]\(([^)\s]+)\)|\[([^\]]+)\]\(([^)\s]+)\)|\*\*(.+?)\*\*|(?<![\w*])\*(?!\s)(.+?)\*(?!\w)|(?<!\w)_(?!\s)(.+?)_(?!\w)/g;

/**
 * @typedef {{ image: (src: string, alt: string) => HTMLElement, headingShift: number }} Options
 */

/** @param {string} text @param {Options} o @returns {Node[]} */
function inline(text, o) {
  /** @type {Node[]} */
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    const at = m.index ?? 0;
    if (at > last) out.push(document.createTextNode(text.slice(last, at)));
    last = at + m[0].length;
    if (m[2] !== undefined) out.push(el('code', m[2]));
    else if (m[4] !== undefined) out.push(o.image(m[4], m[3] ?? ''));
    else if (m[6] !== undefined) {
      if (/^https?:\/\//i.test(m[6])) {
        const a = /** @type {HTMLAnchorElement} */ (el('a'));
        a.href = m[6];
        a.rel = 'noopener noreferrer';
        a.append(...inline(m[5] ?? '', o));
        out.push(a);
      } else {
        // Relative links name files beside the report that this page cannot open: their text stays, as text.
        out.push(...inline(m[5] ?? '', o));
      }
    } else if (m[7] !== undefined) {
      const b = el('strong');
      b.append(...inline(m[7], o));
      out.push(b);
    } else {
      const i = el('em');
      i.append(...inline(m[8] ?? m[9] ?? '', o));
      out.push(i);
    }
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

const LIST_ITEM = /^(\s*)([-*+]|\d+[.)])\s+(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

/** @param {string} line */
const cells = (line) =>
  line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());

/** @param {string[]} lines @param {Options} o @returns {HTMLElement} */
function list(lines, o) {
  const first = LIST_ITEM.exec(lines[0] ?? '');
  const indent = first?.[1]?.length ?? 0;
  const ordered = /\d/.test(first?.[2] ?? '');
  const root = el(ordered ? 'ol' : 'ul');
  /** @type {HTMLElement | null} */
  let item = null;
  /** @type {string[]} */
  let nested = [];
  const flush = () => {
    if (item && nested.length) item.append(list(nested, o));
    nested = [];
  };
  for (const line of lines) {
    const m = LIST_ITEM.exec(line);
    if (m && (m[1]?.length ?? 0) <= indent) {
      flush();
      item = el('li');
      item.append(...inline(m[3] ?? '', o));
      root.append(item);
    } else if (m) nested.push(line);
    else if (nested.length) nested.push(line);
    else item?.append(document.createTextNode(' '), ...inline(line.trim(), o));
  }
  flush();
  return root;
}

/**
 * Markdown text → nodes. `image(src, alt)` makes the element for an image reference (the caller decides where bytes come from).
 * @param {string} md @param {Options} o @returns {DocumentFragment}
 */
export function renderMarkdown(md, o) {
  const frag = document.createDocumentFragment();
  // HTML comments (such as the figure markers around quoted figures) are hidden, as any Markdown viewer hides them.
  const lines = md
    .replace(/\r\n?/g, '\n')
    .replace(/<!--[\s\S]*?-->/g, '')
    .split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = /** @type {string} */ (lines[i]);
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = /^\s*(```|~~~)/.exec(line);
    if (fence) {
      const body = [];
      for (i++; i < lines.length && !lines[i]?.trim().startsWith(fence[1] ?? '```'); i++) body.push(lines[i]);
      i++;
      const pre = el('pre');
      pre.append(el('code', body.join('\n')));
      frag.append(pre);
      continue;
    }
    const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const e = el(`h${Math.min(6, (h[1]?.length ?? 1) + o.headingShift)}`);
      e.append(...inline(h[2] ?? '', o));
      frag.append(e);
      i++;
      continue;
    }
    if (line.trim().startsWith('|') && TABLE_RULE.test(lines[i + 1] ?? '')) {
      const head = cells(line);
      const align = cells(lines[i + 1] ?? '').map((c) => (c.endsWith(':') ? 'num' : ''));
      const table = /** @type {HTMLTableElement} */ (el('table'));
      const tr = el('tr');
      head.forEach((c, k) => {
        const th = el('th');
        th.setAttribute('scope', 'col');
        if (align[k]) th.className = align[k] ?? '';
        th.append(...inline(c, o));
        tr.append(th);
      });
      table.append(el('thead'));
      table.tHead?.append(tr);
      const tbody = el('tbody');
      for (i += 2; i < lines.length && lines[i]?.trim().startsWith('|'); i++) {
        const row = el('tr');
        cells(lines[i] ?? '').forEach((c, k) => {
          const td = el('td');
          if (align[k]) td.className = align[k] ?? '';
          td.append(...inline(c, o));
          row.append(td);
        });
        tbody.append(row);
      }
      table.append(tbody);
      const wrap = el('div');
      wrap.className = 'table';
      wrap.append(table);
      frag.append(wrap);
      continue;
    }
    if (LIST_ITEM.test(line)) {
      const block = [];
      while (
        i < lines.length &&
        lines[i]?.trim() !== '' &&
        (LIST_ITEM.test(lines[i] ?? '') || /^\s/.test(lines[i] ?? ''))
      )
        block.push(lines[i++] ?? '');
      frag.append(list(block, o));
      continue;
    }
    const para = [];
    while (
      i < lines.length &&
      lines[i]?.trim() !== '' &&
      !/^\s*(#{1,6}\s|```|~~~|\|)/.test(lines[i] ?? '') &&
      !LIST_ITEM.test(lines[i] ?? '')
    )
      para.push((lines[i++] ?? '').trim());
    const p = el('p');
    p.append(...inline(para.join(' '), o));
    frag.append(p);
  }
  return frag;
}
