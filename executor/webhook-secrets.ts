/**
 * Secrets in webhook URLs: `https://user:password@host/...` and query parameters such as `?token=...` or
 * `&signature=...` are how many receivers authenticate a caller. A trigger's URL shows in its SQL, in its
 * target and in delivery errors; read-only users see those with the secrets replaced by `***` (the rest of
 * the URL stays, so that they can still tell where a trigger posts).
 */

/** Query (and fragment) parameter names whose values are hidden. */
const SECRET_PARAM = /token|key|secret|sig|pass|pwd|auth|credential|session|code/i

const URL_IN_TEXT = /\bhttps?:\/\/[^\s'"<>`]+/gi
const USERINFO = /^(https?:\/\/)[^/?#]*@/i
const PARAM = /([?&#;])([^=&#;?]*)=([^&#;]*)/g

const MASK = '***'

/** The URL with its user information and secret-looking parameter values replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(USERINFO, `$1${MASK}@`).replace(PARAM, (all, sep: string, name: string, value: string) => (value !== '' && SECRET_PARAM.test(safeDecode(name)) ? `${sep}${name}=${MASK}` : all))
}

/** The text with every http(s) URL in it redacted (SQL text, error messages). */
export function redactSecrets(text: string): string {
  return text.includes('://') ? text.replace(URL_IN_TEXT, redactUrl) : text
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}
