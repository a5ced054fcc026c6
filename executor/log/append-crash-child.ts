/**
 * Test fixture for stream-log.test.ts: appends batches spread over four partitions until it is killed,
 * printing each batch's number once it is committed. Usage: node --import tsx append-crash-child.ts <dir> <first batch number>
 */
import { StreamLog } from './stream-log.ts'

export const BATCH_RECORDS = 5000
export const PARTITIONS = 4

const dir = process.argv[2]
if (dir !== undefined) {
  const log = await StreamLog.open(dir, PARTITIONS, { segmentBytes: 256 * 1024 })
  for (let b = Number(process.argv[3] ?? 0); ; b++) {
    const byPartition: string[][] = Array.from({ length: PARTITIONS }, () => [])
    for (let i = 0; i < BATCH_RECORDS; i++) byPartition[(i * 7 + b) % PARTITIONS]!.push(`b${b}-${i}-${'x'.repeat(i % 200)}`)
    await log.appendBatch(byPartition)
    process.stdout.write(`committed ${b}\n`)
  }
}
