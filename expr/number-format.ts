/**
 * PostgreSQL's numeric templates: `to_char(number, template)` and `to_number(text, template)` with the
 * digit positions `9` (blank when a leading zero) and `0`, the decimal point `.`/`D`, group separators
 * `,`/`G`, signs `S` `MI` `PL` `SG` `PR`, `L`, `FM`, `TH`, `V`, `EEEE` and `RN`. The server's locale is C, so
 * `D` is `.`, `G` is `,` and `L` a blank, as PostgreSQL shows them under lc_numeric/lc_monetary C.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, isNumeric, type SqlType } from '../common/types.ts'
import type { Resolved } from './bound.ts'

type FunctionRule = (args: readonly SqlType[]) => Resolved | undefined

type Item =
  | { kind: 'digit'; zero: boolean; afterPoint: boolean }
  | { kind: 'point' }
  | { kind: 'group' }
  | { kind: 'sign'; which: 'S' | 'MI' | 'PL' | 'SG' }
  | { kind: 'text'; text: string }

interface NumTemplate {
  readonly items: readonly Item[]
  readonly fm: boolean
  readonly pr: boolean
  readonly th: 'TH' | 'th' | undefined
  readonly pre: number
  readonly post: number
  /** Digit positions after V: the value is multiplied by 10 to their number. */
  readonly shift: number
  readonly eeee: boolean
  readonly roman: boolean
  readonly explicitSign: boolean
}

const cache = new Map<string, NumTemplate>()

function parseNumTemplate(fmt: string): NumTemplate {
  const hit = cache.get(fmt)
  if (hit !== undefined) return hit
  const items: Item[] = []
  let fm = false
  let pr = false
  let th: 'TH' | 'th' | undefined
  let pre = 0
  let post = 0
  let shift = 0
  let afterPoint = false
  let afterV = false
  let eeee = false
  let roman = false
  let i = 0
  const up = fmt.toUpperCase()
  while (i < fmt.length) {
    const rest = up.slice(i)
    const c = rest[0]!
    if (rest.startsWith('FM')) (fm = true), (i += 2)
    else if (rest.startsWith('PR')) (pr = true), (i += 2)
    else if (rest.startsWith('TH')) (th = fmt[i] === 't' ? 'th' : 'TH'), (i += 2)
    else if (rest.startsWith('EEEE')) (eeee = true), (i += 4)
    else if (rest.startsWith('RN')) (roman = true), (i += 2)
    else if (rest.startsWith('MI') || rest.startsWith('PL') || rest.startsWith('SG')) items.push({ kind: 'sign', which: rest.slice(0, 2) as 'MI' }), (i += 2)
    else if (c === 'S') items.push({ kind: 'sign', which: 'S' }), i++
    else if (c === '9' || c === '0') {
      items.push({ kind: 'digit', zero: c === '0', afterPoint })
      if (afterV) shift++
      if (afterPoint) post++
      else pre++
      i++
    } else if (c === '.' || c === 'D') {
      if (afterPoint) throw new SluiceError('execution', SqlState.syntaxError, 'multiple decimal points')
      items.push({ kind: 'point' })
      afterPoint = true
      i++
    } else if (c === ',' || c === 'G') items.push({ kind: 'group' }), i++
    else if (c === 'V') (afterV = true), i++
    else if (c === 'L') items.push({ kind: 'text', text: ' ' }), i++
    else if (c === '"') {
      const end = fmt.indexOf('"', i + 1)
      items.push({ kind: 'text', text: fmt.slice(i + 1, end < 0 ? fmt.length : end) })
      i = end < 0 ? fmt.length : end + 1
    } else items.push({ kind: 'text', text: fmt[i]! }), i++
  }
  // PL leaves the usual sign place in; S, MI, SG and PR take it over.
  const explicitSign = items.some((it) => it.kind === 'sign' && it.which !== 'PL')
  const t: NumTemplate = { items, fm, pr, th, pre, post, shift, eeee, roman, explicitSign }
  if (cache.size > 500) cache.clear()
  cache.set(fmt, t)
  return t
}

const ROMAN: readonly [number, string][] = [[1000, 'M'], [900, 'CM'], [500, 'D'], [400, 'CD'], [100, 'C'], [90, 'XC'], [50, 'L'], [40, 'XL'], [10, 'X'], [9, 'IX'], [5, 'V'], [4, 'IV'], [1, 'I']]

function roman(n: number, fm: boolean): string {
  const v = Math.round(n)
  if (v < 1 || v > 3999) return '#'.repeat(15)
  let out = ''
  let rest = v
  for (const [value, letters] of ROMAN) while (rest >= value) (out += letters), (rest -= value)
  return fm ? out : out.padStart(15, ' ')
}

function ordinal(n: number, th: 'TH' | 'th'): string {
  const a = Math.abs(Math.trunc(n))
  const suffix = a % 100 >= 11 && a % 100 <= 13 ? 'th' : a % 10 === 1 ? 'st' : a % 10 === 2 ? 'nd' : a % 10 === 3 ? 'rd' : 'th'
  return th === 'TH' ? suffix.toUpperCase() : suffix
}

/** Half away from zero at `digits` decimals, as digits text. */
function fixed(abs: number, digits: number): string {
  const f = 10 ** digits
  const r = Math.round(abs * f) / f
  return r.toFixed(digits)
}

export function numberToChar(value: number, fmt: string): string {
  const t = parseNumTemplate(fmt)
  if (t.roman) return roman(value, t.fm)
  const neg = value < 0 || Object.is(value, -0) === false && value < 0
  const abs = Math.abs(value) * 10 ** t.shift
  if (t.eeee) {
    const [mant, exp] = abs.toExponential(t.post).split('e') as [string, string]
    const e = Number(exp)
    const text = `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`
    return `${neg ? '-' : t.fm ? '' : ' '}${text}`
  }
  const [intText, fracText = ''] = fixed(abs, t.post).split('.') as [string, string?]
  const isNeg = neg && Number(fixed(abs, t.post)) !== 0 ? true : neg
  const overflow = (intText === '0' ? 0 : intText.length) > t.pre
  const intDigits = intText === '0' ? '' : intText
  const zeroStart = firstZero(t)
  const leading = t.pre - intDigits.length
  let out = ''
  let started = false
  let pos = 0
  let fracPos = 0
  let lastFrac = fracText.length
  if (t.fm) {
    // Trailing zeros of the fraction go, back to the last `0` position.
    let keep = fracText.length
    const zeroUntil = lastZeroAfterPoint(t)
    while (keep > zeroUntil && fracText[keep - 1] === '0') keep--
    lastFrac = keep
  }
  const sign = (): string => (t.explicitSign ? '' : t.pr ? (isNeg ? '<' : t.fm ? '' : ' ') : isNeg ? '-' : t.fm ? '' : ' ')
  for (const it of t.items) {
    switch (it.kind) {
      case 'digit':
        if (it.afterPoint) {
          if (overflow) out += '#'
          else if (fracPos < lastFrac) out += fracText[fracPos]!
          fracPos++
          break
        }
        if (overflow) {
          if (!started) (out += sign()), (started = true)
          out += '#'
        } else if (pos < leading) {
          if (pos >= zeroStart) {
            if (!started) (out += sign()), (started = true)
            out += '0'
          } else if (pos === t.pre - 1 && intDigits === '' && t.post === 0) {
            out += sign() + '0'
            started = true
          } else if (!t.fm) out += ' '
        } else {
          if (!started) (out += sign()), (started = true)
          out += intDigits[pos - leading]!
        }
        pos++
        break
      case 'point':
        if (!started) (out += sign()), (started = true)
        out += overflow ? '.' : '.'
        break
      case 'group':
        if (started) out += ','
        else if (!t.fm) out += ' '
        break
      case 'sign':
        out += signText(it.which, isNeg, t.fm, started || pos > 0)
        break
      case 'text':
        out += it.text
        break
    }
  }
  if (!started && !t.explicitSign) out = sign() + out
  if (t.pr) out += isNeg ? '>' : t.fm ? '' : ' '
  if (t.th !== undefined && !isNeg && !overflow) out += ordinal(value, t.th)
  return out
}

function signText(which: 'S' | 'MI' | 'PL' | 'SG', neg: boolean, fm: boolean, _after: boolean): string {
  switch (which) {
    case 'S':
    case 'SG':
      return neg ? '-' : '+'
    case 'MI':
      return neg ? '-' : fm ? '' : ' '
    case 'PL':
      return neg ? (fm ? '' : ' ') : '+'
  }
}

function firstZero(t: NumTemplate): number {
  let pos = 0
  for (const it of t.items) {
    if (it.kind !== 'digit' || it.afterPoint) continue
    if (it.zero) return pos
    pos++
  }
  return Number.POSITIVE_INFINITY
}

function lastZeroAfterPoint(t: NumTemplate): number {
  let pos = 0
  let last = 0
  for (const it of t.items) {
    if (it.kind !== 'digit' || !it.afterPoint) continue
    pos++
    if (it.zero) last = pos
  }
  return last
}

/** to_number(text, template): the digits the text holds, its decimal point and sign (`-`, trailing MI, `<...>`). */
export function textToNumber(text: string, fmt: string): number {
  const t = parseNumTemplate(fmt)
  let digits = ''
  let point = false
  let neg = false
  let intCount = 0
  let fracCount = 0
  for (const ch of text) {
    if (ch >= '0' && ch <= '9') {
      if (point) {
        if (fracCount < t.post) (digits += ch), fracCount++
      } else (digits += ch), intCount++
    } else if (ch === '.' && t.post > 0 && !point) {
      point = true
      digits += '.'
    } else if (ch === '-' || (ch === '<' && t.pr)) neg = true
  }
  if (digits === '' || digits === '.') throw new SluiceError('execution', SqlState.invalidTextRepresentation, 'invalid input syntax for type numeric: " "')
  void intCount
  const v = Number(digits) / 10 ** t.shift
  return neg ? -v : v
}

export const NUMBER_FORMAT_FUNCTIONS: Record<string, FunctionRule> = {
  to_char: (args) =>
    args.length === 2 && isNumeric(args[0]!)
      ? { type: Types.text, impl: { strict: true, emit: ([x, f], c) => `${c.constant(numberToChar)}(${x}, ${f})` }, argTypes: [args[0]!, Types.text] }
      : undefined,
  to_number: (args) =>
    args.length === 2 && args.every((a) => !a.element && (a.name === 'text' || a.name === 'unknown'))
      ? { type: Types.numeric, impl: { strict: true, emit: ([x, f], c) => `${c.constant(textToNumber)}(${x}, ${f})` }, argTypes: [Types.text, Types.text] }
      : undefined,
}
