/**
 * What a pattern match costs, per option weighed in expr/regex.ts: JavaScript's RegExp (backtracking),
 * the linear automaton, what `compileRegex` chooses, and re2js when it is installed (it is not a
 * dependency: `npm install --no-save re2js` to include it). Benign patterns give ns per match; bombs give
 * the time of one match of a long input (RegExp is left out there: it would run for minutes).
 * V8's own linear engine is checked in child processes, since its flags must be set before a RegExp runs.
 *
 *   node --import tsx bench/regex-options.ts
 */
import { spawnSync } from 'node:child_process'
import { compileLike } from '../expr/like.ts'
import { compileAutomaton, compileRegex, type TextMatcher } from '../expr/regex.ts'

interface Re2 {
  compile(p: string): { matcher(s: string): { find(): boolean } }
}

async function loadRe2(): Promise<Re2 | undefined> {
  try {
    const mod = (await import('re2js' as string)) as { RE2JS: Re2 }
    return mod.RE2JS
  } catch {
    return undefined
  }
}

function nsPerMatch(run: (i: number) => boolean, n = 300_000): number {
  for (let i = 0; i < 10_000; i++) run(i)
  const t = process.hrtime.bigint()
  for (let i = 0; i < n; i++) run(i)
  return Number(process.hrtime.bigint() - t) / n
}

const names = Array.from({ length: 100 }, (_, i) => `table_name_${i}`)
const messages = Array.from({ length: 100 }, (_, i) => `user ${i} clicked the ${i % 7 === 0 ? 'foo' : 'bar'} button on page /home/${i}`)

const re2 = await loadRe2()
const rows: [string, string, number | string][] = []
const benign: [string, string, readonly string[]][] = [
  ['^(table_name_42)$', 'psql \\d name', names],
  ['^(table_name_4.*)$', 'psql \\d name*', names],
  ['foo', 'substring', messages],
  ['\\mfoo\\M', 'word', messages],
  ['(foo|bar) button', 'alternation', messages],
]
for (const [pattern, what, inputs] of benign) {
  const native = new RegExp(pattern.replace(/\\m|\\M/g, '\\b'))
  const automaton = compileAutomaton(pattern, false)
  const chosen: TextMatcher = compileRegex(pattern, false)
  rows.push([`${what}: ${pattern}`, 'RegExp', nsPerMatch((i) => native.test(inputs[i % 100]!))])
  rows.push([`${what}: ${pattern}`, 'automaton', nsPerMatch((i) => automaton.test(inputs[i % 100]!))])
  rows.push([`${what}: ${pattern}`, `chosen (${chosen instanceof RegExp ? 'RegExp' : 'automaton'})`, nsPerMatch((i) => chosen.test(inputs[i % 100]!))])
  if (re2 !== undefined && !pattern.includes('\\m')) {
    const r = re2.compile(pattern)
    rows.push([`${what}: ${pattern}`, 're2js', nsPerMatch((i) => r.matcher(inputs[i % 100]!).find(), 100_000)])
  }
}
const oldLike = /^[\s\S]*foo[\s\S]*$/
const like = compileLike('%foo%', false)
rows.push(["LIKE '%foo%'", 'RegExp (before)', nsPerMatch((i) => oldLike.test(messages[i % 100]!))])
rows.push(["LIKE '%foo%'", 'like.ts', nsPerMatch((i) => like.test(messages[i % 100]!))])
const likeUnderscore = compileLike('%f_o%', false)
rows.push(["LIKE '%f_o%'", 'like.ts', nsPerMatch((i) => likeUnderscore.test(messages[i % 100]!))])

console.log('ns per match')
for (const [pattern, how, ns] of rows) console.log(`  ${pattern.padEnd(40)} ${how.padEnd(22)} ${typeof ns === 'number' ? ns.toFixed(0) : ns}`)

console.log('one match of a bomb (ms)')
const bombs: [string, string][] = [
  ['^(a+)+$', 'a'.repeat(100_000) + '!'],
  ['(x+x+)+y', 'x'.repeat(100_000)],
  ['(a|aa)+$', 'a'.repeat(100_000) + '!'],
  ['(.*a){20}', 'a'.repeat(100_000)],
  ['(?i)^(a+)+$', 'A'.repeat(100_000) + '!'],
]
for (const [pattern, text] of bombs) {
  const m = compileRegex(pattern, false)
  const t = performance.now()
  m.test(text)
  console.log(`  ${pattern.padEnd(16)} ${String(text.length).padEnd(8)} automaton ${(performance.now() - t).toFixed(1)}`)
}

// V8's experimental linear engine: which bombs it bounds once the flags are set (each in a child, 10 s cap).
console.log("V8 --enable-experimental-regexp-engine-on-excessive-backtracks (ms, or 'stalled' past 10 s)")
const v8Cases: [string, string, string][] = [
  ['^(a+)+$', '', 'a'.repeat(54) + '!'],
  ['(x+x+)+y', '', 'x'.repeat(60)],
  ['(a|aa)+$', '', 'a'.repeat(80) + '!'],
  ['^(a+)+$', 'i', 'a'.repeat(54) + '!'],
  ['^(a+)+$', 'u', 'a'.repeat(54) + '!'],
  ['^(a+){2,30}$', '', 'a'.repeat(54) + '!'],
  ['(?=a+)(a+)+$', '', 'a'.repeat(54) + '!'],
  ['^(a+)+\\1$', '', 'a'.repeat(30) + '!'],
]
const child = `
const v8 = require('node:v8')
v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks')
v8.setFlagsFromString('--regexp-backtracks-before-fallback=10000')
const [p, f, s] = JSON.parse(process.argv[1])
const t = performance.now(); new RegExp(p, f).test(s); console.log((performance.now() - t).toFixed(1))`
for (const [p, f, s] of v8Cases) {
  const r = spawnSync(process.execPath, ['-e', child, JSON.stringify([p, f, s])], { encoding: 'utf8', timeout: 10_000 })
  console.log(`  /${p}/${f}`.padEnd(20), r.status === 0 ? r.stdout.trim() : 'stalled')
}
