/**
 * A compact text form of pattern events, for tests and debugging: `#n start: a b {c}` for a match
 * (braces: excluded rows, `()`: an empty match), `- row` for an unmatched row, `~ start: ... @deadline`
 * for a partial match cut off by WITHIN.
 */
import type { PatternEvent } from './partition.ts'

export function eventsText(events: readonly PatternEvent[]): string[] {
  return events.map((e) => {
    switch (e.kind) {
      case 'match':
        return `#${e.number} ${e.start}: ${rowsText(e.classifiers, e.excluded)}`
      case 'unmatched':
        return `- ${e.row}`
      case 'timeout':
        return `~ ${e.start}: ${rowsText(e.classifiers, e.excluded)} @${e.deadline}`
    }
  })
}

function rowsText(classifiers: readonly string[], excluded: readonly boolean[]): string {
  if (classifiers.length === 0) return '()'
  return classifiers.map((c, i) => (excluded[i] ? `{${c}}` : c)).join(' ')
}
