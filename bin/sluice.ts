#!/usr/bin/env -S node --import tsx
/**
 * The Sluice command line.
 *   sluice serve [--host 127.0.0.1] [--port 6866] [--data ./data] [--http-port 6867] [--checkpoint-ms 500]
 *                [--kafka host:port[,host:port]]   (or SLUICE_KAFKA)
 *                [--files <dir>]                   (or SLUICE_FILES: where file streams read)
 *                [--users <file>] [--auth scram-sha-256|md5|password|trust] [--tls-cert <pem> --tls-key <pem>]
 *                [--query-memory 256MB] [--statement-timeout 0]   (limits of pull queries)
 *   sluice password [--md5 <user>] [--iterations 4096]   (reads a password on stdin, prints the secret to store)
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { startServer } from '../server/server.ts'
import { type AuthMethod, formatScramSecret, md5Secret, scramSecret } from '../server/auth.ts'
import { isAuthMethod } from '../server/users.ts'
import { parseMemorySetting, parseTimeoutSetting } from '../executor/query-budget.ts'

const USAGE = `usage: sluice serve [--host 127.0.0.1] [--port 6866] [--data ./data] [--http-port 6867 | --no-http] [--checkpoint-ms 500] [--kafka host:port[,host:port]] [--files <dir>]
                    [--users <file>] [--auth scram-sha-256|md5|password|trust] [--tls-cert <pem> --tls-key <pem>]
                    [--query-memory 256MB] [--statement-timeout 0]
       sluice password [--md5 <user>] [--iterations 4096]    reads a password on stdin, prints its SCRAM verifier (or md5 hash)`

/** The `--auth` value; `scram` is accepted for scram-sha-256. */
function authMethod(text: string | undefined): AuthMethod | undefined {
  if (text === undefined) return undefined
  const method = text === 'scram' ? 'scram-sha-256' : text
  if (!isAuthMethod(method)) {
    console.error(`sluice: --auth must be scram-sha-256 (or scram), md5, password or trust, not "${text}"`)
    process.exit(2)
  }
  return method
}

/** `sluice password`: the secret for a users file, so that the file need not hold the password itself. */
async function password(rest: string[]): Promise<void> {
  const { values } = parseArgs({ args: rest, options: { md5: { type: 'string' }, iterations: { type: 'string', default: '4096' } } })
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (text === '') {
    console.error('sluice password: no password on stdin')
    process.exit(2)
  }
  console.log(values.md5 !== undefined ? md5Secret(text, values.md5) : formatScramSecret(scramSecret(text, undefined, Number(values.iterations))))
}

/** `--query-memory 512MB`, `--statement-timeout 30s`: as the settings take them. */
function limitOption(name: string, text: string | undefined, parse: (t: string) => number | null): number | undefined {
  if (text === undefined) return undefined
  const n = parse(text)
  if (n === null) {
    console.error(`sluice: --${name} takes a value such as ${name === 'query-memory' ? "'256MB'" : "'30s' (0 is none)"}, not "${text}"`)
    process.exit(2)
  }
  return n
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === 'password') return password(rest)
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
      files: { type: 'string', default: process.env.SLUICE_FILES },
      users: { type: 'string' },
      auth: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'query-memory': { type: 'string' },
      'statement-timeout': { type: 'string' },
    },
  })
  const server = await startServer({
    host: values.host,
    port: Number(values.port),
    dataDir: resolve(values.data!),
    httpPort: values['no-http'] ? undefined : Number(values['http-port']),
    checkpointIntervalMs: Number(values['checkpoint-ms']),
    kafkaBrokers: values.kafka!.split(',').map((b) => b.trim()).filter((b) => b !== ''),
    fileDir: values.files === undefined || values.files === '' ? undefined : resolve(values.files),
    usersFile: values.users === undefined ? undefined : resolve(values.users),
    auth: authMethod(values.auth),
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
    queryMemory: limitOption('query-memory', values['query-memory'], parseMemorySetting),
    statementTimeoutMs: limitOption('statement-timeout', values['statement-timeout'], parseTimeoutSetting),
  })
  console.log(`sluice: listening for Postgres clients on ${values.host}:${server.port} (psql -h ${values.host} -p ${server.port})`)
  if (server.httpPort !== null) console.log(`sluice: HTTP ingest on http://${values.host}:${server.httpPort}/streams/<name>`)
  console.log(`sluice: data directory ${resolve(values.data!)}`)
  console.log(`sluice: authentication ${server.security.auth}${server.security.users === null ? '' : ` for ${server.security.users.size} users`}, TLS ${server.security.tls === null ? 'off' : 'on'}`)
  if (values.kafka !== '') console.log(`sluice: Kafka cluster ${values.kafka}`)
  if (values.files !== undefined && values.files !== '') console.log(`sluice: file streams read from ${resolve(values.files)}`)
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
