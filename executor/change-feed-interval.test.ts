/** SubscriptionOptions.minIntervalMs: a subscription looks for changes at most that often, whatever the engine's step rate. */
import { expect, test } from 'vitest'
import type { Row } from '../common/types.ts'
import { ChangeFeed, Subscription, type ViewHandle } from './change-feed.ts'
import type { ViewFollower } from './operators/view-follower.ts'

/** A view whose follower counts the looks and reports one changed entry per look, its row the look's number. */
function countingView(): { view: ViewHandle; looks: () => number } {
  let looks = 0
  const follower: ViewFollower = {
    async *entries() {},
    async changed() {
      looks++
      return [['k', [[looks]] as Row[]] as const]
    },
    close() {},
  }
  const view: ViewHandle = { status: 'running', eventsIn: 0, expired: 0, watermark: { current: 0 }, offsets: [], rows: async function* () {}, follow: () => follower }
  return { view, looks: () => looks }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('without an interval every engine step is a look', async () => {
  const feed = new ChangeFeed()
  const { view, looks } = countingView()
  const sub = new Subscription(feed, { kind: 'view', view: () => view }, { snapshot: false, progress: false })
  await sub.ready()
  for (let i = 0; i < 10; i++) {
    feed.stepped()
    await sleep(1)
  }
  expect(looks()).toBe(10)
  sub.close()
})

test('with min_interval, steps in between are one look, and a step put off is looked at when the interval ends', async () => {
  const feed = new ChangeFeed()
  const { view, looks } = countingView()
  const sub = new Subscription(feed, { kind: 'view', view: () => view }, { snapshot: false, progress: false, minIntervalMs: 300 })
  await sub.ready()
  for (let i = 0; i < 10; i++) {
    feed.stepped()
    await sleep(1)
  }
  expect(looks()).toBe(1)
  // The steps after the first were put off, not dropped: one look follows once the interval has passed.
  await sub.wait(5000)
  await sleep(400)
  expect(looks()).toBe(2)
  const rows = sub.take(0).map((i) => (i.kind === 'change' ? [i.diff, ...i.row] : []))
  expect(rows).toEqual([[1, 1], [-1, 1], [1, 2]])
  sub.close()
  feed.stepped()
  await sleep(400)
  expect(looks()).toBe(2)
})
