/**
 * Password authentication as PostgreSQL does it, server side: cleartext passwords, salted MD5, and
 * SCRAM-SHA-256 (RFC 5802 with the SHA-256 profile of RFC 7677, without channel binding). Stored secrets
 * use PostgreSQL's own formats (`md5<hex>` and `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`), so a
 * verifier copied out of `pg_authid.rolpassword` works here unchanged.
 *
 * Everything is a pure function or a small state machine over message bodies: the connection sends what
 * `start()` returns, feeds each PasswordMessage body to `receive()`, and acts on the step it gets back.
 * Nothing here touches a socket, which is what lets the tests drive a whole exchange in memory.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { SluiceError, SqlState } from '../common/errors.ts'

/** How a connection proves who it is; `password` is PostgreSQL's name for cleartext. */
export type AuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256'

export const AUTH_METHODS: readonly AuthMethod[] = ['trust', 'password', 'md5', 'scram-sha-256']

export const SCRAM_MECHANISM = 'SCRAM-SHA-256'
/** PostgreSQL's default `scram_iterations`. */
export const SCRAM_DEFAULT_ITERATIONS = 4096
const SCRAM_SALT_BYTES = 16
/** PostgreSQL sends 18 random bytes, base64 encoded, as its half of the nonce. */
const SCRAM_NONCE_BYTES = 18
const MD5_SALT_BYTES = 4

/** A SCRAM-SHA-256 verifier: what the server keeps instead of the password. */
export interface ScramSecret {
  readonly iterations: number
  readonly salt: Buffer
  readonly storedKey: Buffer
  readonly serverKey: Buffer
}

/** A user's stored secret, in one of the forms PostgreSQL stores. */
export type Secret =
  /** A password kept as given (users file or options); every method can check it. */
  | { readonly kind: 'plain'; readonly password: string; readonly scram: ScramSecret }
  /** `md5` + hex(md5(password || user)): MD5 and cleartext can check it, SCRAM cannot. */
  | { readonly kind: 'md5'; readonly hash: string }
  /** A SCRAM verifier: SCRAM and cleartext can check it, MD5 cannot (PostgreSQL then uses SCRAM). */
  | { readonly kind: 'scram'; readonly scram: ScramSecret }

// ---- primitives ---------------------------------------------------------------------------------

const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest()
const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest()
const md5hex = (data: string | Buffer): string => createHash('md5').update(data).digest('hex')

/** Equality that takes the same time wherever the inputs differ (hashing first hides their lengths too). */
export function constantTimeEqual(a: Buffer | string, b: Buffer | string): boolean {
  return timingSafeEqual(sha256(Buffer.from(a)), sha256(Buffer.from(b)))
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** Characters SASLprep (RFC 4013) maps to a space: the non-ASCII spaces of RFC 3454 table C.1.2. */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g
/** Characters SASLprep removes: RFC 3454 table B.1. */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/g
/** Prohibited output (controls, private use, surrogates, non-characters, tagging): a subset of RFC 4013 §2.3. */
const PROHIBITED = /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200E\u200F\u2028-\u202E\u2061-\u2063\u206A-\u206F\uD800-\uDFFF\uE000-\uF8FF\uFDD0-\uFDEF\uFFF9-\uFFFF]/

/**
 * Normalizes a password as PostgreSQL does before SCRAM hashing: pure ASCII passes unchanged; otherwise
 * spaces and ignorable characters are mapped, NFKC applied, and if the result holds a prohibited character
 * the password is used as given (PostgreSQL falls back the same way rather than refusing).
 */
export function saslPrep(password: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7F]*$/.test(password)) return password
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC')
  return PROHIBITED.test(mapped) ? password : mapped
}

/** SaltedPassword := Hi(Normalize(password), salt, i), with Hi being PBKDF2-HMAC-SHA-256. */
export function scramSaltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(saslPrep(password), 'utf8'), salt, iterations, 32, 'sha256')
}

/** The verifier for a password: StoredKey := H(HMAC(SaltedPassword, "Client Key")), ServerKey := HMAC(SaltedPassword, "Server Key"). */
export function scramSecret(password: string, salt: Buffer = randomBytes(SCRAM_SALT_BYTES), iterations = SCRAM_DEFAULT_ITERATIONS): ScramSecret {
  const salted = scramSaltedPassword(password, salt, iterations)
  return { iterations, salt, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') }
}

/** PostgreSQL's text form of a verifier, as stored in `pg_authid.rolpassword`. */
export function formatScramSecret(s: ScramSecret): string {
  return `${SCRAM_MECHANISM}$${s.iterations}:${s.salt.toString('base64')}$${s.storedKey.toString('base64')}:${s.serverKey.toString('base64')}`
}

const BASE64 = '[A-Za-z0-9+/]+={0,2}'
const SCRAM_VERIFIER = new RegExp(`^SCRAM-SHA-256\\$(\\d+):(${BASE64})\\$(${BASE64}):(${BASE64})$`)

/** Parses `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`; null when the text is not one. */
export function parseScramSecret(text: string): ScramSecret | null {
  const m = SCRAM_VERIFIER.exec(text)
  if (m === null) return null
  const iterations = Number(m[1])
  const storedKey = Buffer.from(m[3]!, 'base64')
  const serverKey = Buffer.from(m[4]!, 'base64')
  if (!Number.isSafeInteger(iterations) || iterations < 1 || storedKey.length !== 32 || serverKey.length !== 32) return null
  return { iterations, salt: Buffer.from(m[2]!, 'base64'), storedKey, serverKey }
}

/** PostgreSQL's stored MD5 form: `md5` + hex(md5(password || user)). */
export function md5Secret(password: string, user: string): string {
  return `md5${md5hex(password + user)}`
}

/** What a client answers to an MD5 challenge: `md5` + hex(md5(hex(md5(password || user)) || salt)). */
export function md5Response(storedHash: string, salt: Buffer): string {
  return `md5${md5hex(Buffer.concat([Buffer.from(storedHash.slice(3), 'utf8'), salt]))}`
}

/**
 * Reads a secret as written in a users file or given as an option: a SCRAM verifier, an `md5` hash, or
 * otherwise a plain password (whose SCRAM verifier is computed once, here, with `salt`: the server passes
 * the one an unknown user of that name would get, so that a restart changes neither).
 */
export function parseSecret(text: string, salt: Buffer = randomBytes(SCRAM_SALT_BYTES)): Secret {
  if (text.startsWith(`${SCRAM_MECHANISM}$`)) {
    const scram = parseScramSecret(text)
    if (scram === null) throw new SluiceError('auth', SqlState.invalidParameterValue, 'malformed SCRAM-SHA-256 verifier: expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>')
    return { kind: 'scram', scram }
  }
  if (/^md5[0-9a-f]{32}$/.test(text)) return { kind: 'md5', hash: text }
  return { kind: 'plain', password: text, scram: scramSecret(text, salt) }
}

/** Whether `password`, sent in clear, matches the stored secret of `user`. */
export function checkPassword(secret: Secret, user: string, password: string): boolean {
  switch (secret.kind) {
    case 'plain':
      return constantTimeEqual(password, secret.password)
    case 'md5':
      return constantTimeEqual(md5Secret(password, user), secret.hash)
    case 'scram': {
      const s = secret.scram
      return constantTimeEqual(scramSecret(password, s.salt, s.iterations).storedKey, s.storedKey)
    }
  }
}

// ---- backend messages -----------------------------------------------------------------------------

/** Authentication request codes of the 'R' message. */
const AuthCode = { ok: 0, cleartext: 3, md5: 5, sasl: 10, saslContinue: 11, saslFinal: 12 } as const

function authMessage(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(9 + payload.length)
  out.write('R', 0, 'latin1')
  out.writeInt32BE(8 + payload.length, 1)
  out.writeInt32BE(code, 5)
  payload.copy(out, 9)
  return out
}

export const authenticationCleartextPassword = (): Buffer => authMessage(AuthCode.cleartext)
export const authenticationMD5Password = (salt: Buffer): Buffer => authMessage(AuthCode.md5, salt)
/** The list of SASL mechanisms, each NUL-terminated, then an empty name. */
export const authenticationSASL = (mechanisms: readonly string[]): Buffer =>
  authMessage(AuthCode.sasl, Buffer.from(mechanisms.map((m) => `${m}\0`).join('') + '\0', 'utf8'))
export const authenticationSASLContinue = (data: string): Buffer => authMessage(AuthCode.saslContinue, Buffer.from(data, 'utf8'))
export const authenticationSASLFinal = (data: string): Buffer => authMessage(AuthCode.saslFinal, Buffer.from(data, 'utf8'))

// ---- frontend message bodies ----------------------------------------------------------------------

const violation = (message: string, detail?: string): SluiceError => new SluiceError('protocol', SqlState.protocolViolation, message, { detail })

/** The password of a PasswordMessage: a NUL-terminated string filling the body. */
export function decodePasswordBody(body: Buffer): string {
  const end = body.indexOf(0)
  if (end !== body.length - 1) throw violation('invalid password packet size')
  return body.toString('utf8', 0, end)
}

/** A SASLInitialResponse: mechanism name, then the client's first message (length -1 when absent). */
export function decodeSaslInitialResponse(body: Buffer): { mechanism: string; data: string | null } {
  const end = body.indexOf(0)
  if (end < 0 || body.length < end + 5) throw violation('invalid SASL initial response packet')
  const mechanism = body.toString('utf8', 0, end)
  const length = body.readInt32BE(end + 1)
  const start = end + 5
  if (length === -1 && body.length === start) return { mechanism, data: null }
  if (length < 0 || body.length !== start + length) throw violation('invalid SASL initial response packet')
  return { mechanism, data: body.toString('utf8', start) }
}

// ---- SCRAM messages (RFC 5802 §7) -----------------------------------------------------------------

export interface ClientFirst {
  /** `n,,` or `y,,`: echoed back (base64) in the client's final message. */
  readonly gs2Header: string
  readonly bare: string
  readonly nonce: string
}

export interface ClientFinal {
  readonly channelBinding: string
  readonly nonce: string
  readonly proof: Buffer
  /** The message up to `,p=`: part of AuthMessage. */
  readonly withoutProof: string
}

const malformed = (detail: string): SluiceError => violation('malformed SCRAM message', detail)

/** A printable nonce: ASCII 0x21..0x7E except ','. */
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/

/**
 * Parses `gs2-cbind-flag "," [authzid] "," client-first-message-bare`. PostgreSQL ignores the user name
 * here (the startup packet's counts), refuses an authzid and refuses `p=` when it offered no -PLUS mechanism.
 */
export function parseClientFirst(message: string): ClientFirst {
  const flag = message[0]
  if (flag === 'p') throw violation('channel binding was requested, but the server did not offer SCRAM-SHA-256-PLUS')
  if ((flag !== 'n' && flag !== 'y') || message[1] !== ',') throw malformed(`Unexpected channel-binding flag "${flag ?? ''}".`)
  const authzEnd = message.indexOf(',', 2)
  if (authzEnd < 0) throw malformed('Comma expected after the authorization identity.')
  if (authzEnd !== 2) throw new SluiceError('auth', SqlState.featureNotSupported, 'client uses authorization identity, but it is not supported')
  const gs2Header = message.slice(0, 3)
  const bare = message.slice(3)
  const attrs = bare.split(',')
  if (attrs[0]?.startsWith('m=')) throw new SluiceError('auth', SqlState.featureNotSupported, 'client requires an unsupported SCRAM extension')
  if (!attrs[0]?.startsWith('n=')) throw malformed('Expected attribute "n".')
  const nonceAttr = attrs[1]
  if (nonceAttr === undefined || !nonceAttr.startsWith('r=')) throw malformed('Expected attribute "r".')
  const nonce = nonceAttr.slice(2)
  if (!NONCE.test(nonce)) throw malformed('Client nonce is not printable.')
  return { gs2Header, bare, nonce }
}

/** Parses `c=<cbind>,r=<nonce>[,extensions],p=<proof>`; the proof must come last. */
export function parseClientFinal(message: string): ClientFinal {
  const proofAt = message.lastIndexOf(',p=')
  if (proofAt < 0) throw malformed('Expected attribute "p".')
  const withoutProof = message.slice(0, proofAt)
  const proofText = message.slice(proofAt + 3)
  const attrs = withoutProof.split(',')
  if (!attrs[0]?.startsWith('c=')) throw malformed('Expected attribute "c".')
  if (!attrs[1]?.startsWith('r=')) throw malformed('Expected attribute "r".')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(proofText)) throw malformed('Malformed proof in client-final-message.')
  const proof = Buffer.from(proofText, 'base64')
  if (proof.length !== 32) throw malformed('Malformed proof in client-final-message.')
  return { channelBinding: attrs[0].slice(2), nonce: attrs[1].slice(2), proof, withoutProof }
}

/** `r=<client+server nonce>,s=<salt>,i=<iterations>`. */
export const serverFirstMessage = (nonce: string, secret: ScramSecret): string =>
  `r=${nonce},s=${secret.salt.toString('base64')},i=${secret.iterations}`

/**
 * Checks the client's proof against the verifier: ClientKey := ClientProof XOR HMAC(StoredKey, AuthMessage)
 * must hash to StoredKey. Returns the server's final message (`v=<ServerSignature>`) when it does.
 */
export function verifyClientProof(secret: ScramSecret, authMessage: string, proof: Buffer): string | null {
  const clientSignature = hmac(secret.storedKey, authMessage)
  const clientKey = xor(proof, clientSignature)
  if (!timingSafeEqual(sha256(clientKey), secret.storedKey)) return null
  return `v=${hmac(secret.serverKey, authMessage).toString('base64')}`
}

// ---- the exchange --------------------------------------------------------------------------------

/** What the connection does after a PasswordMessage. */
export type AuthStep =
  /** Send this request and wait for the next PasswordMessage. */
  | { readonly kind: 'continue'; readonly message: Buffer }
  /** Authenticated: send these messages (e.g. SASLFinal), then AuthenticationOk. */
  | { readonly kind: 'ok'; readonly messages: readonly Buffer[] }
  /** Refused: report this error (FATAL) and close. */
  | { readonly kind: 'fail'; readonly error: SluiceError }

export interface Authenticator {
  /** The method actually used (MD5 with a SCRAM verifier becomes SCRAM, as in PostgreSQL). */
  readonly method: Exclude<AuthMethod, 'trust'>
  /** The first authentication request to send. */
  start(): Buffer
  /** Handles one PasswordMessage body. Throws SluiceError (08P01) on a malformed message. */
  receive(body: Buffer): AuthStep
}

/** The one failure every wrong password, unknown user and unusable secret reports, so none is told apart. */
export const passwordFailed = (user: string): SluiceError =>
  new SluiceError('auth', SqlState.invalidPassword, `password authentication failed for user "${user}"`)

export interface AuthenticatorOptions {
  /** Random bytes (tests pass a deterministic source). */
  readonly random?: (n: number) => Buffer
  /** Per-server secret from which a convincing fake salt is derived for unknown users. */
  readonly mockSecret?: Buffer
}

const MOCK_SECRET = randomBytes(32)

/**
 * Starts the exchange for `user` with `secret` (null: no such user, which runs the same exchange and fails
 * at the end, with a salt derived from the name so that repeated attempts see a stable one, as PostgreSQL
 * does for its mock authentication).
 */
export function createAuthenticator(method: Exclude<AuthMethod, 'trust'>, user: string, secret: Secret | null, options: AuthenticatorOptions = {}): Authenticator {
  const random = options.random ?? randomBytes
  const mockSecret = options.mockSecret ?? MOCK_SECRET
  switch (method) {
    case 'password':
      return cleartextAuthenticator(user, secret, mockScramSecret(user, mockSecret))
    case 'md5':
      if (secret?.kind === 'scram') return scramAuthenticator(user, secret.scram, random)
      return md5Authenticator(user, secret, random(MD5_SALT_BYTES), mockMd5Secret(user, mockSecret))
    case 'scram-sha-256': {
      const verifier = secret !== null && secret.kind !== 'md5' ? secret.scram : null
      return scramAuthenticator(user, verifier ?? mockScramSecret(user, mockSecret), random, verifier === null)
    }
  }
}

/**
 * Whether a cleartext password matches, at one fixed cost whatever the secret (or its absence): exactly one
 * SCRAM key derivation (PBKDF2, the costly part: milliseconds) against the user's verifier or, for an md5
 * secret or an unknown user, against the mock one. Without that, a known user with a SCRAM verifier would
 * answer measurably later than an unknown one.
 */
function checkCleartextFixedCost(secret: Secret | null, user: string, password: string, mock: ScramSecret): boolean {
  const verifier = secret === null || secret.kind === 'md5' ? mock : secret.scram
  const scramOk = constantTimeEqual(scramSecret(password, verifier.salt, verifier.iterations).storedKey, verifier.storedKey)
  if (secret === null) return false
  switch (secret.kind) {
    case 'plain':
      return constantTimeEqual(password, secret.password)
    case 'md5':
      return constantTimeEqual(md5Secret(password, user), secret.hash)
    case 'scram':
      return scramOk
  }
}

function cleartextAuthenticator(user: string, secret: Secret | null, mock: ScramSecret): Authenticator {
  return {
    method: 'password',
    start: authenticationCleartextPassword,
    receive(body) {
      const password = decodePasswordBody(body)
      const matches = checkCleartextFixedCost(secret, user, password, mock)
      // An empty password is never accepted, as in PostgreSQL.
      const ok = matches && password !== ''
      return ok ? { kind: 'ok', messages: [] } : { kind: 'fail', error: passwordFailed(user) }
    },
  }
}

/** An unknown user's MD5 exchange is checked against this hash (stable per name), at the same cost as a real one. */
function mockMd5Secret(user: string, serverSecret: Buffer): string {
  return `md5${hmac(serverSecret, `md5:${user}`).toString('hex').slice(0, 32)}`
}

function md5Authenticator(user: string, secret: Secret | null, salt: Buffer, mockHash: string): Authenticator {
  return {
    method: 'md5',
    start: () => authenticationMD5Password(salt),
    receive(body) {
      const response = decodePasswordBody(body)
      const stored = secret === null ? null : secret.kind === 'plain' ? md5Secret(secret.password, user) : secret.kind === 'md5' ? secret.hash : null
      // The comparison runs for unknown users too, against the mock hash, so that both take the same time.
      const matches = constantTimeEqual(response, md5Response(stored ?? mockHash, salt))
      const ok = stored !== null && matches
      return ok ? { kind: 'ok', messages: [] } : { kind: 'fail', error: passwordFailed(user) }
    },
  }
}

/** The salt of `user`'s mock verifier: stable per name and server secret. */
export const mockSalt = (user: string, serverSecret: Buffer): Buffer => hmac(serverSecret, `salt:${user}`).subarray(0, SCRAM_SALT_BYTES)

/** A verifier that no password matches, with a salt stable per user name. */
function mockScramSecret(user: string, serverSecret: Buffer): ScramSecret {
  const salt = mockSalt(user, serverSecret)
  return { iterations: SCRAM_DEFAULT_ITERATIONS, salt, storedKey: hmac(serverSecret, `stored:${user}`), serverKey: hmac(serverSecret, `server:${user}`) }
}

function scramAuthenticator(user: string, secret: ScramSecret, random: (n: number) => Buffer, mock = false): Authenticator {
  let state:
    | { readonly kind: 'initial' }
    | { readonly kind: 'first_sent'; readonly clientFirst: ClientFirst; readonly serverFirst: string; readonly nonce: string }
    | { readonly kind: 'finished' } = { kind: 'initial' }
  return {
    method: 'scram-sha-256',
    start: () => authenticationSASL([SCRAM_MECHANISM]),
    receive(body) {
      switch (state.kind) {
        case 'initial': {
          const { mechanism, data } = decodeSaslInitialResponse(body)
          if (mechanism !== SCRAM_MECHANISM) throw violation('client selected an invalid SASL authentication mechanism')
          if (data === null) throw malformed('The message is empty.')
          const clientFirst = parseClientFirst(data)
          const nonce = clientFirst.nonce + random(SCRAM_NONCE_BYTES).toString('base64')
          const serverFirst = serverFirstMessage(nonce, secret)
          state = { kind: 'first_sent', clientFirst, serverFirst, nonce }
          return { kind: 'continue', message: authenticationSASLContinue(serverFirst) }
        }
        case 'first_sent': {
          const final = parseClientFinal(body.toString('utf8'))
          const { clientFirst, serverFirst, nonce } = state
          state = { kind: 'finished' }
          if (Buffer.from(final.channelBinding, 'base64').toString('utf8') !== clientFirst.gs2Header) {
            throw violation('SCRAM channel binding check failed')
          }
          if (final.nonce !== nonce) throw malformed('Nonce does not match.')
          const authMessage = `${clientFirst.bare},${serverFirst},${final.withoutProof}`
          const serverFinal = verifyClientProof(secret, authMessage, final.proof)
          if (serverFinal === null || mock) return { kind: 'fail', error: passwordFailed(user) }
          return { kind: 'ok', messages: [authenticationSASLFinal(serverFinal)] }
        }
        case 'finished':
          throw violation('unexpected SASL response after the exchange ended')
      }
    },
  }
}
