/**
 * encode(bytea, format) and decode(text, format) with PostgreSQL's formats: hex, base64 (lines of 76
 * characters, whitespace skipped when decoding) and escape (octal for NUL and high bytes, `\\` for `\`).
 * Bad input is 22023 (22P02 for escape), with PostgreSQL's messages.
 */
import { SluiceError, SqlState } from '../common/errors.ts'

type Format = 'hex' | 'base64' | 'escape'

function format(name: string): Format {
  const f = name.toLowerCase()
  if (f === 'hex' || f === 'base64' || f === 'escape') return f
  throw new SluiceError('execution', SqlState.invalidParameterValue, `unrecognized encoding: "${name}"`)
}

const bad = (message: string, hint?: string): SluiceError => new SluiceError('execution', SqlState.invalidParameterValue, message, { hint })
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r'

function base64Lines(b: Buffer): string {
  const flat = b.toString('base64')
  let out = ''
  // PostgreSQL ends every full line of 76 characters with a newline, the last one too.
  for (let i = 0; i < flat.length; i += 76) {
    const line = flat.slice(i, i + 76)
    out += line.length === 76 ? `${line}\n` : line
  }
  return out
}

function escapeText(b: Buffer): string {
  let out = ''
  for (const byte of b) {
    if (byte === 0 || byte >= 0x80) out += `\\${byte.toString(8).padStart(3, '0')}`
    else if (byte === 0x5c) out += '\\\\'
    else out += String.fromCharCode(byte)
  }
  return out
}

export function encodeBytes(b: Buffer, name: string): string {
  switch (format(name)) {
    case 'hex':
      return b.toString('hex')
    case 'base64':
      return base64Lines(b)
    case 'escape':
      return escapeText(b)
  }
}

function hexDecode(s: string): Buffer {
  const out: number[] = []
  const digit = (c: string): number => {
    const v = /^[0-9a-fA-F]$/.test(c) ? parseInt(c, 16) : -1
    if (v < 0) throw bad(`invalid hexadecimal digit: "${c}"`)
    return v
  }
  const cs = Array.from(s)
  for (let i = 0; i < cs.length; ) {
    if (isSpace(cs[i]!)) {
      i++
      continue
    }
    const hi = digit(cs[i++]!)
    if (i >= cs.length) throw bad('invalid hexadecimal data: odd number of digits')
    out.push((hi << 4) | digit(cs[i++]!))
  }
  return Buffer.from(out)
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

function base64Decode(s: string): Buffer {
  const out: number[] = []
  let buf = 0
  let pos = 0
  let end = 0
  for (const c of s) {
    if (isSpace(c)) continue
    let v = 0
    if (c === '=') {
      if (end === 0) {
        if (pos === 2) end = 1
        else if (pos === 3) end = 2
        else throw bad('unexpected "=" while decoding base64 sequence')
      }
    } else {
      v = B64.indexOf(c)
      if (v < 0 || c.length !== 1) throw bad(`invalid symbol "${c}" found while decoding base64 sequence`)
    }
    buf = (buf << 6) | v
    if (++pos === 4) {
      out.push((buf >> 16) & 255)
      if (end === 0 || end > 1) out.push((buf >> 8) & 255)
      if (end === 0 || end > 2) out.push(buf & 255)
      buf = 0
      pos = 0
    }
  }
  if (pos !== 0) throw bad('invalid base64 end sequence', 'Input data is missing padding, is truncated, or is otherwise corrupted.')
  return Buffer.from(out)
}

function escapeDecode(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8')
  const out: number[] = []
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!
    if (b !== 0x5c) {
      out.push(b)
      i++
    } else if (bytes[i + 1] === 0x5c) {
      out.push(0x5c)
      i += 2
    } else if (i + 3 < bytes.length && isOctal(bytes[i + 1]!, 3) && isOctal(bytes[i + 2]!, 7) && isOctal(bytes[i + 3]!, 7)) {
      out.push(((bytes[i + 1]! - 48) << 6) | ((bytes[i + 2]! - 48) << 3) | (bytes[i + 3]! - 48))
      i += 4
    } else {
      throw new SluiceError('execution', SqlState.invalidTextRepresentation, 'invalid input syntax for type bytea')
    }
  }
  return Buffer.from(out)
}

const isOctal = (b: number, max: number): boolean => b >= 48 && b <= 48 + max

export function decodeText(s: string, name: string): Buffer {
  switch (format(name)) {
    case 'hex':
      return hexDecode(s)
    case 'base64':
      return base64Decode(s)
    case 'escape':
      return escapeDecode(s)
  }
}
