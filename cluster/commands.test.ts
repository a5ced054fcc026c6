import { beforeAll, describe, expect, test } from 'vitest'
import { initParser, parseStatements } from '../parser/index.ts'
import type * as ast from '../parser/ast.ts'
import { topicBacked } from './commands.ts'
import { partitionOfKey } from './kafka-io.ts'

const backed = (sql: string) => topicBacked(parseStatements(sql)[0]!.statement as ast.CreateStream, sql)

describe('CREATE STREAM in a cluster', () => {
  beforeAll(async () => {
    await initParser()
  })

  test('a stream without a connector becomes a stream of a topic, 6 partitions unless it says', () => {
    expect(backed('CREATE STREAM s (a INT, b TEXT)')).toEqual({ sql: "CREATE STREAM s (a INT, b TEXT) WITH (connector = 'kafka', topic = 's')", topic: { name: 's', partitions: 6 } })
    expect(backed("CREATE STREAM s (a INT) WITH (key = 'a', partitions = 3, topic = 'raw');")).toEqual({
      sql: "CREATE STREAM s (a INT) WITH (key = 'a', connector = 'kafka', topic = 'raw')",
      topic: { name: 'raw', partitions: 3 },
    })
  })

  test('the watermark and the other options stay as written; a stream of a given connector is left alone', () => {
    const sql = "CREATE STREAM s (ts TIMESTAMPTZ, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (format = 'json')"
    expect(backed(sql).sql).toBe("CREATE STREAM s (ts TIMESTAMPTZ, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') WITH (format = 'json', connector = 'kafka', topic = 's')")
    const kafka = "CREATE STREAM s (a INT) WITH (connector = 'kafka', topic = 'x')"
    expect(backed(kafka)).toEqual({ sql: kafka, topic: null })
    expect(() => backed('CREATE STREAM s (a INT) WITH (partitions = 0)')).toThrow(/partitions must be an integer/)
  })

  test("keys are partitioned as Kafka's Java client does (murmur2)", () => {
    // Kafka 4.1's Utils.toPositive(Utils.murmur2(key.getBytes(UTF_8))) % 6, computed with kafka-clients.
    expect(['p0', 'p1', 'p2', 'player-42'].map((k) => partitionOfKey(k, 6))).toEqual([2, 2, 2, 1])
    expect(new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((k) => partitionOfKey(k, 6))).size).toBeGreaterThan(2)
  })
})
