/**
 * What a connection goes through before its session opens: the security it offers (TLS, the
 * authentication method, the users), the gate that admits or refuses it (limits, a full server, login
 * throttling), and the authentication exchange itself (trust, cleartext, MD5 or SCRAM-SHA-256 through
 * auth.ts). The startup packets and TLS negotiation stay in connection.ts, which owns the socket.
 */
import type { SecureContext } from 'node:tls'
import { SluiceError, SqlState, assertNever, toSluiceError } from '../common/errors.ts'
import { DEFAULT_MESSAGE_LIMIT, type FrontendMessage, type MessageLimit, protocolViolation } from './wire/reader.ts'
import { type AuthMethod, createAuthenticator, passwordFailed } from './auth.ts'
import type { Role, UserDirectory } from './users.ts'
import type { LoginThrottle } from './login-throttle.ts'

/** How connections negotiate encryption and check who connects. */
export interface ConnectionSecurity {
  /** Certificate and key for SSLRequest; null answers 'N' (no encryption). */
  readonly tls: SecureContext | null
  readonly auth: AuthMethod
  /** Configured users; null lets any user name in, as admin (trust, the default). */
  readonly users: UserDirectory | null
  /** Server secret from which unknown users' mock SCRAM salts and MD5 hashes are derived (kept in the data directory). */
  readonly mockSecret?: Buffer
}

/** No TLS, trust, everyone admin: what a server without security options does. */
export const OPEN_SECURITY: ConnectionSecurity = { tls: null, auth: 'trust', users: null }

/** What the listener decides for one connection: limits, admission and login throttling. */
export interface ConnectionGate {
  /** How long a message may be once authenticated (before that, MAX_AUTH_MESSAGE_LENGTH). */
  readonly messageLimit: MessageLimit
  /** Non-null: the server is full; this is answered (FATAL) to the startup packet, as PostgreSQL does. */
  readonly refusal: SluiceError | null
  /** Called once authenticated; an error refuses the session (connection slots reserved for admins). */
  admit(role: Role): SluiceError | null
  readonly throttle: LoginThrottle | null
}

/** No limits beyond the default message size: what tests building a bare Connection get. */
export const OPEN_GATE: ConnectionGate = { messageLimit: DEFAULT_MESSAGE_LIMIT, refusal: null, admit: () => null, throttle: null }

/** Thrown out of a handler to end the connection after reporting (protocol violations, startup failures). */
export class Fatal extends Error {
  constructor(readonly error: SluiceError) {
    super(error.message)
  }
}

export const fatal = (error: SluiceError): Fatal => new Fatal(error)

/**
 * What the authentication exchange needs of its connection: to queue a message for the client, and to
 * read the client's next message (null once it went away).
 */
export interface AuthChannel {
  send(message: Buffer): void
  nextMessage(): Promise<FrontendMessage | null>
}

/**
 * Runs the configured exchange for `user` and returns its role, or null when the client went away. A
 * wrong password and an unknown user fail alike (28P01), so nobody learns which users exist. Failures
 * count against the client's address in the login throttle.
 */
export async function authenticate(channel: AuthChannel, user: string, security: ConnectionSecurity, throttle: LoginThrottle | null, remoteAddress: string): Promise<Role | null> {
  const { users } = security
  if (users === null) return 'admin'
  const blocked = throttle?.check(remoteAddress) ?? null
  if (blocked !== null) throw fatal(blocked)
  try {
    return await exchange(channel, user, users, security)
  } catch (err) {
    // Anything that ends the exchange but the client leaving counts as a failed login.
    throttle?.failed(remoteAddress)
    throw err
  }
}

/** The exchange of the configured method (trust, or a challenge and answers through auth.ts). */
async function exchange(channel: AuthChannel, user: string, users: UserDirectory, security: ConnectionSecurity): Promise<Role | null> {
  const { auth } = security
  const known = users.get(user)
  if (auth === 'trust') {
    if (known === null) throw fatal(new SluiceError('auth', SqlState.invalidAuthorization, `role "${user}" does not exist`))
    return known.role
  }
  let authenticator
  try {
    authenticator = createAuthenticator(auth, user, known?.secret ?? null, { mockSecret: security.mockSecret })
  } catch (err) {
    throw fatal(toSluiceError(err))
  }
  channel.send(authenticator.start())
  for (;;) {
    const message = await channel.nextMessage()
    if (message === null || message.type === 'terminate') return null
    if (message.type !== 'password') throw fatal(protocolViolation(`expected password response, got message type "${message.type}"`))
    let step
    try {
      step = authenticator.receive(message.data)
    } catch (err) {
      throw fatal(toSluiceError(err))
    }
    switch (step.kind) {
      case 'continue':
        channel.send(step.message)
        continue
      case 'fail':
        throw fatal(step.error)
      case 'ok':
        // Only a known user's secret can match; the check keeps that a fact the compiler sees.
        if (known === null) throw fatal(passwordFailed(user))
        for (const m of step.messages) channel.send(m)
        return known.role
      default:
        return assertNever(step, 'authentication step')
    }
  }
}
