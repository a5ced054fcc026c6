/**
 * Channels for LISTEN / NOTIFY: sessions subscribe to channel names, and a notification published on a
 * channel reaches every session listening to it at that moment, in publication order (PostgreSQL's
 * semantics: nothing is kept for sessions that listen later). NOTIFY statements publish here, and so will
 * triggers.
 */
export interface ChannelMessage {
  readonly channel: string
  readonly payload: string
  /** The process id of the session (or 0 for the engine) that sent it. */
  readonly senderPid: number
}

export type Listener = (message: ChannelMessage) => void

/** PostgreSQL's limit for a payload (8000 bytes in the default configuration). */
export const MAX_PAYLOAD_BYTES = 8000

export class NotificationHub {
  private readonly channels = new Map<string, Set<Listener>>()
  /** Messages published, for sluice_* figures. */
  published = 0

  listen(channel: string, listener: Listener): void {
    let set = this.channels.get(channel)
    if (set === undefined) {
      set = new Set()
      this.channels.set(channel, set)
    }
    set.add(listener)
  }

  unlisten(channel: string, listener: Listener): void {
    const set = this.channels.get(channel)
    if (set === undefined) return
    set.delete(listener)
    if (set.size === 0) this.channels.delete(channel)
  }

  /**
   * Cluster mode (cluster/notify-relay.ts): publishing hands the message to the relay, which sends it to
   * every node of the cluster, this one included; each delivers it here with `deliver`.
   */
  relay: ((message: ChannelMessage) => void) | null = null

  publish(message: ChannelMessage): void {
    if (this.relay !== null) this.relay(message)
    else this.deliver(message)
  }

  /**
   * A notification from the engine (a trigger's NOTIFY): as `publish`, but the message is only made when it
   * goes somewhere (the relay, or a session listening), since a thousand triggers may fire on every event.
   */
  notify(channel: string, payload: string): void {
    if (this.relay === null && !this.channels.has(channel)) {
      this.published++
      return
    }
    this.publish({ channel, payload, senderPid: 0 })
  }

  /** Hands the message to the sessions listening on its channel now. */
  deliver(message: ChannelMessage): void {
    this.published++
    const set = this.channels.get(message.channel)
    if (set === undefined) return
    for (const listener of [...set]) listener(message)
  }

  listeners(channel: string): number {
    return this.channels.get(channel)?.size ?? 0
  }
}
