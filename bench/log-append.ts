/**
 * The embedded log's append path as INSERT, COPY and HTTP use it: batches of records spread over four
 * partitions, each batch all or nothing (one commit record after its records). Usage:
 *   npm run bench:log                          # 1M records of ~90 bytes, 500 per batch
 *   npm run bench:log -- --records 2000000 --batch 100
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { StreamLog } from '../executor/log/stream-log.ts'

const PARTITIONS = 4
const { values } = parseArgs({ options: { records: { type: 'string', default: '1000000' }, batch: { type: 'string', default: '500' } } })
const records = Number(values.records)
const batch = Number(values.batch)
const payload = '{"player_id":1234,"game":"chess","type":"fight","level":12,"ts":"2026-11-23T00:00:00.000Z"}'

const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-log-'))
try {
  const log = await StreamLog.open(dir, PARTITIONS)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let done = 0; done < records; done += batch) {
    const byPartition: string[][] = Array.from({ length: PARTITIONS }, () => [])
    for (let i = 0; i < batch; i++) byPartition[i % PARTITIONS]!.push(payload)
    await log.appendBatch(byPartition)
  }
  const secs = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  await log.close()
  const cpuPerRecord = ((cpu.user + cpu.system) * 1000) / records
  console.log(`log append: ${records.toLocaleString('en-US')} records in batches of ${batch} over ${PARTITIONS} partitions`)
  console.log(`RESULT log_append records=${records} batch=${batch} rps=${Math.round(records / secs)} cpu_ns_per_record=${Math.round(cpuPerRecord)}`)
} finally {
  await rm(dir, { recursive: true, force: true })
}
