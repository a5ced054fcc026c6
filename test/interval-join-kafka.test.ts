/**
 * An interval join of two Kafka streams, against a real broker (test/helpers/kafka.ts, records produced by
 * kcat): the join reads both topics' partitions, and a join view created after other views read (and the
 * fetchers released) both topics starts from the beginning of each, as a view on one Kafka stream does.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { sharedKafka, type KafkaBroker } from './helpers/kafka.ts'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

const MINUTE = 60_000
const T0 = Date.UTC(2026, 11, 1, 10, 0, 0)

describe('interval join of two Kafka streams', () => {
  let kafka: KafkaBroker
  let sluice: SluiceProcess
  let client: pg.Client
  beforeAll(async () => {
    kafka = await sharedKafka()
    sluice = await startSluice({ kafka: kafka.brokers, checkpointMs: 100 })
    client = await sluice.client()
  }, 300_000)
  afterAll(async () => {
    await client?.end()
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
    await kafka?.stop()
  })

  test('a join view created late reads both topics from the beginning and joins within the bound', async () => {
    const [offersTopic, purchasesTopic] = [`offers-${Date.now()}`, `purchases-${Date.now()}`]
    await kafka.createTopic(offersTopic, 2)
    await kafka.createTopic(purchasesTopic, 3)
    const stream = (name: string, topic: string, value: string) => `CREATE STREAM ${name} (player_id INT, ${value}, ts TIMESTAMPTZ NOT NULL,
      WATERMARK FOR ts AS ts - INTERVAL '1 minute') WITH (connector = 'kafka', topic = '${topic}', format = 'json', start = 'earliest')`
    await client.query(stream('offers', offersTopic, 'offer TEXT'))
    await client.query(stream('purchases', purchasesTopic, 'amount INT'))
    await client.query('CREATE MATERIALIZED VIEW offer_count AS SELECT count(*) AS n FROM offers')
    await client.query('CREATE MATERIALIZED VIEW purchase_count AS SELECT count(*) AS n FROM purchases')
    const offers = Array.from({ length: 200 }, (_, i) => ({ player_id: i % 20, offer: `o${i % 5}`, ts: T0 + i * MINUTE }))
    const purchases = Array.from({ length: 300 }, (_, i) => ({ player_id: i % 20, amount: i, ts: T0 + Math.floor(i * 0.7) * MINUTE }))
    await kafka.produce(offersTopic, offers.map((o) => JSON.stringify({ ...o, ts: new Date(o.ts).toISOString() })))
    await kafka.produce(purchasesTopic, purchases.map((p) => JSON.stringify({ ...p, ts: new Date(p.ts).toISOString() })))
    const count = async (v: string) => Number((await client.query(`SELECT n FROM ${v}`)).rows[0]?.n ?? 0)
    await eventually(() => count('offer_count'), (n) => n === 200, 60_000)
    await eventually(() => count('purchase_count'), (n) => n === 300, 60_000)

    await client.query(`CREATE MATERIALIZED VIEW attributed AS SELECT o.offer, p.amount FROM offers o JOIN purchases p
      ON p.player_id = o.player_id AND p.ts BETWEEN o.ts AND o.ts + INTERVAL '30 minutes'`)
    const expected = offers
      .flatMap((o) => purchases.filter((p) => p.player_id === o.player_id && p.ts >= o.ts && p.ts <= o.ts + 30 * MINUTE).map((p) => `${o.offer} ${p.amount}`))
      .sort()
    expect(expected.length).toBeGreaterThan(50)
    const rows = async () => (await client.query('SELECT offer, amount FROM attributed')).rows.map((r) => `${r.offer} ${r.amount}`).sort()
    const got = await eventually(rows, (r) => r.length >= expected.length, 60_000)
    expect(got).toEqual(expected)
    const parts = await client.query("SELECT stream, count(*)::int AS n FROM sluice_partitions WHERE query = 'attributed' GROUP BY stream ORDER BY stream")
    expect(parts.rows).toEqual([{ stream: 'offers', n: 2 }, { stream: 'purchases', n: 3 }])
  }, 240_000)
})
