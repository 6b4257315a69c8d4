// Accept-header check: does the client take one of the media types a route produces? (406 otherwise)

/** True when `accept` (an Accept header) admits one of `types`; a missing or empty header admits anything. */
export function accepts(accept: string | undefined, types: readonly string[]): boolean {
  if (!accept || accept.trim() === '') return true;
  for (const entry of accept.split(',')) {
    const [range = '', ...params] = entry.trim().toLowerCase().split(';');
    if (params.some((p) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(p))) continue;
    const [type = '', sub = ''] = range.trim().split('/');
    for (const t of types) {
      const [tt, ts] = t.split('/');
      if ((type === '*' || type === tt) && (sub === '*' || sub === ts)) return true;
    }
  }
  return false;
}
