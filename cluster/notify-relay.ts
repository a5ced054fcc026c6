/**
 * NOTIFY across a cluster: a notification published on any node goes to the topic
 * `_sluice_<cluster>_notify` (one partition: one order for all) and every node delivers it to its own
 * LISTEN sessions. Each node reads from the topic's end as it starts: as in PostgreSQL, nothing is kept
 * for sessions that listen later.
 */
import { KafkaSource } from '../executor/connectors/kafka-source.ts'
import type { ChannelMessage, NotificationHub } from '../executor/notifications.ts'
import { Arrivals, type KafkaIo } from './kafka-io.ts'

export function notifyTopic(cluster: string): string {
  return `_sluice_${cluster}_notify`
}

export class NotifyRelay {
  private next = 0
  private closed = false
  private readonly arrivals = new Arrivals()
  private done: Promise<void> = Promise.resolve()
  /** Sends in publication order, one after the other. */
  private sending: Promise<void> = Promise.resolve()

  private constructor(
    private readonly hub: NotificationHub,
    private readonly io: KafkaIo,
    private readonly topic: string,
    private readonly source: KafkaSource,
  ) {}

  static async start(cluster: string, brokers: readonly string[], hub: NotificationHub, io: KafkaIo): Promise<NotifyRelay> {
    const topic = notifyTopic(cluster)
    await io.ensureTopic(topic, 1, { 'retention.ms': String(60 * 60 * 1000) })
    let relay: NotifyRelay | null = null
    const source = await KafkaSource.open({ brokers, topic, start: 'latest', groupId: `sluice-${cluster}-notify`, onArrival: () => relay?.arrivals.wake() })
    relay = new NotifyRelay(hub, io, topic, source)
    await source.start([undefined])
    relay.next = source.endOffset(0)
    relay.done = relay.deliverLoop()
    hub.relay = (m) => relay.send(m)
    return relay
  }

  private send(message: ChannelMessage): void {
    const value = JSON.stringify(message)
    this.sending = this.sending
      .then(() => this.io.send(this.topic, 1, [{ key: undefined, value }], 0))
      .then(
        () => undefined,
        (err: unknown) => console.error(`sluice: NOTIFY ${message.channel} not sent to the cluster: ${(err as Error).message}`),
      )
  }

  private async deliverLoop(): Promise<void> {
    while (!this.closed) {
      const batch = await this.source.read(0, this.next, 1000)
      if (batch.records.length === 0) {
        await this.arrivals.wait()
        continue
      }
      for (const raw of batch.records) {
        try {
          this.hub.deliver(JSON.parse(raw.toString()) as ChannelMessage)
        } catch (err) {
          console.error(`sluice: a cluster notification could not be delivered: ${(err as Error).message}`)
        }
      }
      this.next = batch.nextOffset
      this.source.release(0, this.next)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    this.hub.relay = null
    this.arrivals.wake()
    await this.sending
    await this.done.catch(() => undefined)
    await this.source.close()
  }
}
