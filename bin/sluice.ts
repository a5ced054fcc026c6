#!/usr/bin/env -S node --import tsx
/**
 * The Sluice command line.
 *   sluice serve [--host 127.0.0.1] [--port 6866] [--data ./data] [--http-port <port + 1>] [--checkpoint-ms 500]
 *                [--kafka host:port[,host:port]]   (or SLUICE_KAFKA)
 *                [--cluster NAME]                  (with --kafka and the HTTP port: a node of cluster NAME; see docs/cluster.md)
 *                [--no-changelog]                  (cluster mode: no state changelog topics; a moved task re-reads its input)
 *                [--standbys 0]                    (cluster mode: warm copies kept of each task on other nodes; give every node the same)
 *                [--decode-thread | --no-decode-thread]  (decode events on a second thread: the default with 2+ cores, not in a cluster)
 *                [--files <dir>]                   (or SLUICE_FILES: where file streams read)
 *                [--webhook-allow host[:port],*.domain[:port],...]   (or SLUICE_WEBHOOK_ALLOW: hosts webhooks may reach)
 *                [--users <file>] [--auth scram-sha-256|md5|password|trust] [--tls-cert <pem> --tls-key <pem>]
 *                [--max-connections 100] [--reserved-connections 3] [--max-message-bytes 67108864]
 *                [--login-failures 5] [--login-window-ms 60000] [--login-lockout-ms 1000] [--login-lockout-max-ms 60000]
 *                [--subscribe-max-lag 1000000]     (events a SUBSCRIBE may fall behind by; 0: no limit)
 *                [--query-memory 256MB] [--statement-timeout 0]   (limits of pull queries)
 *   sluice password [--md5 <user>] [--iterations 4096]   (reads a password on stdin, prints the secret to store)
 */
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { SluiceError } from '../common/errors.ts'
import { startServer } from '../server/server.ts'
import { type AuthMethod, formatScramSecret, md5Secret, scramSecret } from '../server/auth.ts'
import { isAuthMethod } from '../server/users.ts'
import { parseAllowList } from '../executor/webhook-policy.ts'
import { parseMemorySetting, parseTimeoutSetting } from '../executor/query-budget.ts'

const USAGE = `usage: sluice serve [--host 127.0.0.1] [--port 6866] [--data ./data] [--http-port <port + 1> | --no-http] [--checkpoint-ms 500] [--kafka host:port[,host:port]] [--cluster NAME [--no-changelog | --standbys N]] [--decode-thread | --no-decode-thread] [--files <dir>]
                    [--webhook-allow host[:port],*.domain[:port],...]
                    [--users <file>] [--auth scram-sha-256|md5|password|trust] [--tls-cert <pem> --tls-key <pem>]
                    [--max-connections 100] [--reserved-connections 3] [--max-message-bytes 67108864]
                    [--login-failures 5] [--login-window-ms 60000] [--login-lockout-ms 1000] [--login-lockout-max-ms 60000]
                    [--subscribe-max-lag <events, 0 = no limit>]
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

/** A flag's value as a non-negative integer (undefined when not given); anything else ends with usage status 2. */
function integerFlag(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    console.error(`sluice: --${name} must be a non-negative integer, not "${text}"`)
    process.exit(2)
  }
  return Number(text)
}

/**
 * The HTTP ingest port: as given, else the Postgres port + 1 (6867 beside the default 6866), so that a
 * second server started with only `--port` does not collide with the first one's HTTP port.
 */
function httpPortFor(given: string | undefined, port: number): number {
  const explicit = integerFlag('http-port', given)
  if (explicit !== undefined) return explicit
  if (port === 0) return 0
  if (port >= 65535) {
    console.error(`sluice: --port ${port} leaves no default HTTP port (port + 1); give --http-port or --no-http`)
    process.exit(2)
  }
  return port + 1
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
      'http-port': { type: 'string' },
      'no-http': { type: 'boolean', default: false },
      // Changelogs are the default in cluster mode; --changelog is still taken (it was the opt-in).
      changelog: { type: 'boolean', default: false },
      'no-changelog': { type: 'boolean', default: false },
      standbys: { type: 'string', default: '0' },
      'decode-thread': { type: 'boolean', default: false },
      'no-decode-thread': { type: 'boolean', default: false },
      'checkpoint-ms': { type: 'string', default: '500' },
      kafka: { type: 'string', default: process.env.SLUICE_KAFKA ?? '' },
      cluster: { type: 'string', default: process.env.SLUICE_CLUSTER },
      files: { type: 'string', default: process.env.SLUICE_FILES },
      'webhook-allow': { type: 'string', multiple: true, default: process.env.SLUICE_WEBHOOK_ALLOW ? [process.env.SLUICE_WEBHOOK_ALLOW] : [] },
      users: { type: 'string' },
      auth: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'max-connections': { type: 'string' },
      'reserved-connections': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'login-failures': { type: 'string' },
      'login-window-ms': { type: 'string' },
      'login-lockout-ms': { type: 'string' },
      'login-lockout-max-ms': { type: 'string' },
      'subscribe-max-lag': { type: 'string' },
      'query-memory': { type: 'string' },
      'statement-timeout': { type: 'string' },
    },
  })
  const webhookAllow = values['webhook-allow']!
  try {
    parseAllowList(webhookAllow)
  } catch (err) {
    console.error(`sluice: --webhook-allow: ${(err as Error).message}`)
    process.exit(2)
  }
  if (values['no-http'] && values.cluster !== undefined && values.cluster !== '') {
    // Peers gather a view's rows from each other's tasks on the HTTP port (docs/cluster.md, pull queries).
    console.error('sluice: --cluster needs the HTTP port (nodes read each other\'s tasks there); drop --no-http')
    process.exit(2)
  }
  const standbys = integerFlag('standbys', values.standbys)!
  if (standbys > 0 && (values['no-changelog'] === true || values.cluster === undefined || values.cluster === '')) {
    // A standby copy follows its task's changelog (docs/cluster.md, "Standby copies").
    console.error('sluice: --standbys needs --cluster with changelogs (not --no-changelog)')
    process.exit(2)
  }
  const port = integerFlag('port', values.port)!
  const server = await startServer({
    host: values.host,
    port,
    dataDir: resolve(values.data!),
    httpPort: values['no-http'] ? undefined : httpPortFor(values['http-port'], port),
    checkpointIntervalMs: Number(values['checkpoint-ms']),
    ...(values['decode-thread'] === true ? { decodeThread: true } : values['no-decode-thread'] === true ? { decodeThread: false } : {}),
    kafkaBrokers: values.kafka!.split(',').map((b) => b.trim()).filter((b) => b !== ''),
    ...(values.cluster === undefined || values.cluster === '' ? {} : { cluster: values.cluster, clusterChangelog: values['no-changelog'] !== true, clusterStandbys: standbys }),
    webhookAllow,
    fileDir: values.files === undefined || values.files === '' ? undefined : resolve(values.files),
    usersFile: values.users === undefined ? undefined : resolve(values.users),
    auth: authMethod(values.auth),
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
    maxConnections: integerFlag('max-connections', values['max-connections']),
    reservedConnections: integerFlag('reserved-connections', values['reserved-connections']),
    maxMessageBytes: integerFlag('max-message-bytes', values['max-message-bytes']),
    loginThrottle: definedOnly({
      failures: integerFlag('login-failures', values['login-failures']),
      windowMs: integerFlag('login-window-ms', values['login-window-ms']),
      lockoutMs: integerFlag('login-lockout-ms', values['login-lockout-ms']),
      maxLockoutMs: integerFlag('login-lockout-max-ms', values['login-lockout-max-ms']),
    }),
    subscribeMaxLag: values['subscribe-max-lag'] === undefined ? undefined : Number(values['subscribe-max-lag']),
    queryMemory: limitOption('query-memory', values['query-memory'], parseMemorySetting),
    statementTimeoutMs: limitOption('statement-timeout', values['statement-timeout'], parseTimeoutSetting),
  })
  console.log(`sluice: listening for Postgres clients on ${values.host}:${server.port} (psql -h ${values.host} -p ${server.port})`)
  if (server.httpPort !== null) {
    console.log(`sluice: HTTP ingest on http://${values.host}:${server.httpPort}/streams/<name>`)
    console.log(`sluice: web console on http://${values.host}:${server.httpPort}/`)
    console.log(`sluice: metrics on http://${values.host}:${server.httpPort}/metrics, probes on /health and /ready`)
  }
  console.log(`sluice: data directory ${resolve(values.data!)}`)
  console.log(`sluice: authentication ${server.security.auth}${server.security.users === null ? '' : ` for ${server.security.users.size} users`}, TLS ${server.security.tls === null ? 'off' : 'on'}`)
  if (values.kafka !== '') console.log(`sluice: Kafka cluster ${values.kafka}`)
  if (server.cluster !== undefined) console.log(`sluice: node ${server.cluster.nodeId} of Sluice cluster "${values.cluster}" (commands in topic _sluice_${values.cluster}_commands)`)
  console.log(`sluice: webhooks reach ${webhookAllow.length === 0 ? 'any host' : `the hosts ${webhookAllow.join(',')}`}; non-public addresses only of hosts named exactly`)
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

/** The fields of `o` that are set (so that an absent flag leaves the server's default in place). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/**
 * Errors the operator can act on (a port in use, a missing file, a bad option: system errors with a code,
 * and SluiceErrors) are one line; anything else is a bug and keeps its stack.
 */
function startFailure(err: unknown): string {
  if (err instanceof SluiceError) return err.message
  const code = (err as NodeJS.ErrnoException | null)?.code
  if (err instanceof Error && typeof code === 'string') return err.message
  return err instanceof Error ? (err.stack ?? err.message) : String(err)
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`sluice: ${startFailure(err)}`)
  process.exit(1)
})
