// The service's settings as the docs' markdown table (flag, variable, default, meaning), rendered from SETTINGS.
import { SETTINGS, type Setting } from '../server/config.js';
import { DocsError } from './regions.js';

/** A table cell: pipes escaped so that they do not split the row. */
function cell(md: string): string {
  return md.replaceAll('|', '\\|');
}

/** The default as the docs show it: the setting's words for the docs, else the constant in code style. */
function defaultCell(s: Setting): string {
  if (s.docDefault !== undefined) return s.docDefault;
  if (s.dflt !== null) return `\`${s.dflt}\``;
  const text = s.dfltText;
  if (text === undefined) throw new DocsError(`setting ${s.env} has no default to document: give it docDefault`);
  return text;
}

/** The markdown table; list settings are repeatable flags and comma-separated variables. */
export function settingsTable(settings: readonly Setting[] = SETTINGS): string {
  const rows = settings.map((s) => {
    const list = s.kind === 'list';
    const flag = `\`--${s.flag}\`${list ? ' (repeatable)' : ''}`;
    const env = `\`${s.env}\`${list ? ' (comma-separated)' : ''}`;
    return `| ${flag} | ${env} | ${cell(defaultCell(s))} | ${cell(s.doc ?? s.help)} |`;
  });
  return ['| flag | variable | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
