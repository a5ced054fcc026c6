/**
 * jsonb's text form, as PostgreSQL writes it: object keys ordered by length then bytes (the last of
 * duplicate keys wins), `", "` between items and `": "` after a key. A jsonb value is held in this form, so
 * equal documents compare, group and print alike.
 */
import { Numeric, formatNumeric, parseNumeric } from './numeric.ts'

/** jsonb's key order: shorter first (in UTF-8 bytes), then by bytes. */
export function byJsonbKey(x: string, y: string): number {
  const bx = Buffer.from(x)
  const by = Buffer.from(y)
  return bx.length - by.length || Buffer.compare(bx, by)
}

export function jsonbText(v: unknown): string {
  if (v instanceof Numeric) return formatNumeric(v)
  if (v instanceof RawJson) return jsonbFromText(v.text)
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o).sort(byJsonbKey).map((k) => `${JSON.stringify(k)}: ${jsonbText(o[k])}`).join(', ')}}`
  }
  return JSON.stringify(v)
}

/** A json or jsonb value inside a document being written: its text goes in as it is (digits and all). */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * JSON text as JSON.stringify writes it (no spaces), except that a numeric is written with its own digits
 * (`1.50`, `0.0`), as PostgreSQL's JSON writers do; JSON.stringify would quote it (Numeric.toJSON).
 */
export function jsonCompactText(v: unknown): string {
  if (v instanceof Numeric) return formatNumeric(v)
  if (v instanceof RawJson) return v.text
  if (Array.isArray(v)) return `[${v.map(jsonCompactText).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o).map((k) => `${JSON.stringify(k)}:${jsonCompactText(o[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}

/**
 * jsonb's text form of a JSON document given as text (already known to be valid JSON). Numbers keep their
 * digits as written (`2.50` stays `2.50`, as jsonb's numeric does), which a detour through JavaScript
 * numbers would lose; strings are written back in JSON's escapes.
 */
export function jsonbFromText(text: string): string {
  return jsonbText(parseJsonDigits(text))
}

/**
 * JSON.parse for a valid JSON text, except that numbers become Numeric with the digits written (`2.50`),
 * for the JSON operators that hand a number back as JSON (`doc->'price'`).
 */
export function parseJsonDigits(text: string): unknown {
  let i = 0
  const ws = (): void => {
    for (let c = text.charCodeAt(i); c === 32 || c === 9 || c === 10 || c === 13; c = text.charCodeAt(++i));
  }
  const str = (): string => readString(text, i, (end) => (i = end))
  const value = (): unknown => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      const o: Record<string, unknown> = {}
      ws()
      if (text[i] === '}') i++
      else {
        for (;;) {
          ws()
          const key = str()
          ws()
          i++ // ':'
          const v = value()
          // An own "__proto__" member, as JSON.parse makes it (assigning it would set the prototype).
          if (key === '__proto__') Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true })
          else o[key] = v
          ws()
          if (text[i++] === '}') break
        }
      }
      return o
    }
    if (c === '[') {
      i++
      const items: unknown[] = []
      ws()
      if (text[i] === ']') i++
      else {
        for (;;) {
          items.push(value())
          ws()
          if (text[i++] === ']') break
        }
      }
      return items
    }
    if (c === '"') return str()
    const start = i
    i = tokenEnd(text, i)
    const token = text.slice(start, i)
    if (token === 'true') return true
    if (token === 'false') return false
    if (token === 'null') return null
    return parseNumeric(token)
  }
  return value()
}

/** The string literal starting at `start` (a '"'), unescaped; `done` gets the index after it. */
function readString(text: string, start: number, done: (end: number) => void): string {
  let i = start + 1
  let escaped = false
  for (let c = text.charCodeAt(i); c !== 34; c = text.charCodeAt(i)) {
    if (c === 92) {
      escaped = true
      i += 2
    } else i++
  }
  done(i + 1)
  return escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i)
}

/** The end of a number or literal (true, false, null) token starting at `i`. */
function tokenEnd(text: string, i: number): number {
  for (let c = text.charCodeAt(i); (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || c === 45 || c === 43 || c === 46 || c === 69; c = text.charCodeAt(++i));
  return i
}
