import { describe, expect, test } from 'vitest'
import { NotificationHub, type ChannelMessage } from './notifications.ts'

describe('NotificationHub.notify', () => {
  test('counts a notification nobody listens to, and delivers it to a listener or through the relay', () => {
    const hub = new NotificationHub()
    hub.notify('offers', 'a')
    expect(hub.published).toBe(1)
    const got: ChannelMessage[] = []
    hub.listen('offers', (m) => got.push(m))
    hub.notify('offers', 'b')
    hub.notify('other', 'c')
    expect(got).toEqual([{ channel: 'offers', payload: 'b', senderPid: 0 }])
    expect(hub.published).toBe(3)
    // Cluster mode: every notification goes to the relay, whoever listens here.
    const relayed: ChannelMessage[] = []
    hub.relay = (m) => relayed.push(m)
    hub.notify('other', 'd')
    expect(relayed).toEqual([{ channel: 'other', payload: 'd', senderPid: 0 }])
  })
})
