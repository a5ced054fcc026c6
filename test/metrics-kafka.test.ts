/**
 * /metrics for a Kafka stream and a Kafka sink against a real broker: records produced by kcat (an
 * independent client) show as the topic's end offsets per partition, the view's lag per partition falls to
 * 0 once it has read them, and the sink's records and pending batches are those it delivered, all read with
 * the Prometheus Python client's parser.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'
import { type ParsedSample, parseExposition, sampleValue } from './helpers/prometheus.ts'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const N = 1000

describe('/metrics with Kafka', () => {
  let kafka: KafkaBroker
  let sluice: SluiceProcess

  beforeAll(async () => {
    kafka = await sharedKafka()
    sluice = await startSluice({ http: true, kafka: kafka.brokers })
  }, 300_000)

  afterAll(async () => {
    await sluice?.stop()
    if (sluice !== undefined) await removeDir(sluice.dataDir)
    await kafka?.stop()
  })

  test('shows the topic end per partition, the view lag per partition, and the sink records', async () => {
    const input = `metrics-in-${Date.now()}`
    const output = `metrics-out-${Date.now()}`
    await kafka.createTopic(input, 2)
    await kafka.createTopic(output, 1)
    const client = await sluice.client()
    try {
      await client.query(`CREATE STREAM kin (k TEXT, n INT, ts TIMESTAMPTZ NOT NULL) WITH (connector = 'kafka', topic = '${input}', format = 'json', start = 'earliest')`)
      await client.query('CREATE MATERIALIZED VIEW per_k AS SELECT k, count(*) AS c FROM kin GROUP BY k')
      await client.query(`CREATE SINK kout FROM kin INTO KAFKA TOPIC '${output}'`)
      await kafka.produce(input, Array.from({ length: N }, (_, i) => JSON.stringify({ k: `k${i % 10}`, n: i, ts: '2026-12-06T10:00:00Z' })))
      const scrape = async (): Promise<ParsedSample[]> => parseExposition(await (await fetch(`http://127.0.0.1:${sluice.httpPort}/metrics`)).text())
      // Probed with the figures that matter, so that a failure shows them.
      const figures = (m: ParsedSample[]) => ({
        records: sampleValue(m, 'sluice_sink_records_total', { sink: 'kout' }),
        pending: sampleValue(m, 'sluice_sink_pending_batches', { sink: 'kout' }),
        eventsIn: sampleValue(m, 'sluice_query_events_in_total', { query: 'per_k' }),
        relevant: m.filter((x) => /sink|kin|per_k/.test(JSON.stringify(x.labels))),
      })
      const { relevant: s } = await eventually(async () => figures(await scrape()), (f) => f.records === N && f.pending === 0 && f.eventsIn === N, 120_000)
      const ends = [0, 1].map((p) => sampleValue(s, 'sluice_stream_end_offset', { stream: 'kin', partition: String(p) })!)
      expect(ends[0]! + ends[1]!).toBe(N)
      expect(sampleValue(s, 'sluice_stream_events_in_total', { stream: 'kin' })).toBe(N)
      for (const p of ['0', '1']) expect(sampleValue(s, 'sluice_query_lag_events', { query: 'per_k', stream: 'kin', partition: p })).toBe(0)
      expect(sampleValue(s, 'sluice_sink_running', { sink: 'kout', source: 'kin' })).toBe(1)
      expect(sampleValue(s, 'sluice_sink_batches_delivered_total', { sink: 'kout' })).toBeGreaterThanOrEqual(1)
      expect(kafka.consume(output)).toHaveLength(N)
    } finally {
      await client.end()
    }
  }, 300_000)
})
