#!/usr/bin/env -S node --import tsx
/**
 * The Sluice command line.
 *   sluice serve [--host 127.0.0.1] [--port 6866] [--data ./data] [--http-port 6867] [--checkpoint-ms 500]
 *                [--kafka host:port[,host:port]]   (or SLUICE_KAFKA)
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { startServer } from '../server/server.ts'

const USAGE = `usage: sluice serve [--host 127.0.0.1] [--port 6866] [--data ./data] [--http-port 6867 | --no-http] [--checkpoint-ms 500] [--kafka host:port[,host:port]]`

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command !== 'serve') {
    console.error(USAGE)
    process.exit(command === undefined || command === '--help' || command === '-h' ? 0 : 2)
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: process.env.SLUICE_PORT ?? '6866' },
      data: { type: 'string', default: process.env.SLUICE_DATA ?? './data' },
      'http-port': { type: 'string', default: '6867' },
      'no-http': { type: 'boolean', default: false },
      'checkpoint-ms': { type: 'string', default: '500' },
      kafka: { type: 'string', default: process.env.SLUICE_KAFKA ?? '' },
    },
  })
  const server = await startServer({
    host: values.host,
    port: Number(values.port),
    dataDir: resolve(values.data!),
    httpPort: values['no-http'] ? undefined : Number(values['http-port']),
    checkpointIntervalMs: Number(values['checkpoint-ms']),
    kafkaBrokers: values.kafka!.split(',').map((b) => b.trim()).filter((b) => b !== ''),
  })
  console.log(`sluice: listening for Postgres clients on ${values.host}:${server.port} (psql -h ${values.host} -p ${server.port})`)
  if (server.httpPort !== null) console.log(`sluice: HTTP ingest on http://${values.host}:${server.httpPort}/streams/<name>`)
  console.log(`sluice: data directory ${resolve(values.data!)}`)
  if (values.kafka !== '') console.log(`sluice: Kafka cluster ${values.kafka}`)
  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    console.log(`sluice: ${signal}, checkpointing and shutting down`)
    server.close().then(
      () => process.exit(0),
      (err) => {
        console.error(err)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`sluice: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
})
