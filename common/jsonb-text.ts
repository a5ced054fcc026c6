/**
 * jsonb's text form, as PostgreSQL writes it: object keys ordered by length then bytes (the last of
 * duplicate keys wins), `", "` between items and `": "` after a key. A jsonb value is held in this form, so
 * equal documents compare, group and print alike.
 */

/** jsonb's key order: shorter first (in UTF-8 bytes), then by bytes. */
export function byJsonbKey(x: string, y: string): number {
  const bx = Buffer.from(x)
  const by = Buffer.from(y)
  return bx.length - by.length || Buffer.compare(bx, by)
}

export function jsonbText(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o).sort(byJsonbKey).map((k) => `${JSON.stringify(k)}: ${jsonbText(o[k])}`).join(', ')}}`
  }
  return JSON.stringify(v)
}
