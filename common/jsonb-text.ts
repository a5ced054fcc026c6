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

/**
 * jsonb's text form of a JSON document given as text (already known to be valid JSON). Numbers keep their
 * digits as written (`2.50` stays `2.50`, as jsonb's numeric does), which a detour through JavaScript
 * numbers would lose; strings are written back in JSON's escapes.
 */
export function jsonbFromText(text: string): string {
  let i = 0
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
  }
  const str = (): string => {
    const start = i++
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1
    i++
    return JSON.parse(text.slice(start, i)) as string
  }
  const value = (): string => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      const members = new Map<string, string>()
      ws()
      if (text[i] === '}') i++
      else {
        for (;;) {
          ws()
          const key = str()
          ws()
          i++ // ':'
          members.delete(key)
          members.set(key, value())
          ws()
          if (text[i++] === '}') break
        }
      }
      return `{${[...members.keys()].sort(byJsonbKey).map((k) => `${JSON.stringify(k)}: ${members.get(k)!}`).join(', ')}}`
    }
    if (c === '[') {
      i++
      const items: string[] = []
      ws()
      if (text[i] === ']') i++
      else {
        for (;;) {
          items.push(value())
          ws()
          if (text[i++] === ']') break
        }
      }
      return `[${items.join(', ')}]`
    }
    if (c === '"') return JSON.stringify(str())
    const start = i
    while (i < text.length && /[-+.0-9eEa-z]/.test(text[i]!)) i++
    return text.slice(start, i)
  }
  return value()
}
