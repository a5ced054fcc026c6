/**
 * `||` of jsonb and of bytea as PostgreSQL has them: two jsonb objects merge (the right one's keys win), two
 * arrays concatenate, and anything else is taken as a one-element array (`'[1]' || '{"a": 1}'` is
 * `[1, {"a": 1}]`, `'1' || '2'` is `[1, 2]`); two byteas concatenate their bytes. Both work on the held forms
 * (jsonb's text, a Buffer), so the digits of a jsonb number are kept as written.
 */
import { byJsonbKey } from '../common/jsonb-text.ts'

/** The top-level members of a jsonb text: an array's elements, or an object's `[key, value]` texts. */
function members(text: string): string[] {
  const out: string[] = []
  let depth = 0
  let start = 1
  for (let i = 1; i < text.length - 1; i++) {
    const ch = text[i]
    if (ch === '"') {
      i++
      while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1
    } else if (ch === '[' || ch === '{') depth++
    else if (ch === ']' || ch === '}') depth--
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i).trim())
      start = i + 1
    }
  }
  const last = text.slice(start, text.length - 1).trim()
  if (last !== '' || out.length > 0) out.push(last)
  return out
}

/** An object member `"k": v` split into its key and value text. */
function keyValue(member: string): [string, string] {
  let i = 1
  while (member[i] !== '"') i += member[i] === '\\' ? 2 : 1
  const key = JSON.parse(member.slice(0, i + 1)) as string
  return [key, member.slice(member.indexOf(':', i + 1) + 1).trim()]
}

export function jsonbConcat(a: string, b: string): string {
  const ka = a[0]
  const kb = b[0]
  if (ka === '{' && kb === '{') {
    const merged = new Map<string, string>()
    for (const m of [...members(a), ...members(b)]) {
      const [k, v] = keyValue(m)
      merged.set(k, v)
    }
    return `{${[...merged.keys()].sort(byJsonbKey).map((k) => `${JSON.stringify(k)}: ${merged.get(k)}`).join(', ')}}`
  }
  const items = (t: string): string[] => (t[0] === '[' ? members(t) : [t])
  return `[${[...items(a), ...items(b)].join(', ')}]`
}

export const byteaConcat = (a: Buffer, b: Buffer): Buffer => Buffer.concat([a, b])
