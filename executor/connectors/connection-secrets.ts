/**
 * Passwords in database connection strings (`postgresql://user:password@host/db`, `mysql://...`,
 * `?password=...`) never show: a sink's SQL, its errors and EXPLAIN show `***` in their place, to every user
 * (unlike webhook URLs, whose secrets admins may see: a connection string's password is only ever needed by
 * the sink itself).
 */

const DB_URL = /\b(postgres(?:ql)?|mysql|mariadb):\/\/[^\s'"<>`]+/gi
const USER_PASSWORD = /^([a-z]+:\/\/[^:/?#@]*):[^@/?#]*@/i
const PASSWORD_PARAM = /([?&])(password|pass|pwd|sslpassword)=[^&#]*/gi
/** libpq keyword form: `password=secret` anywhere in the text. */
const PASSWORD_KEYWORD = /\bpassword\s*=\s*(?:'[^']*'|[^\s']+)/gi

const MASK = '***'

export function redactConnection(url: string): string {
  return url.replace(USER_PASSWORD, `$1:${MASK}@`).replace(PASSWORD_PARAM, `$1$2=${MASK}`)
}

/** The text with every database URL's password (and `password=` keywords) replaced by `***`. */
export function redactConnections(text: string): string {
  const urls = text.includes('://') ? text.replace(DB_URL, redactConnection) : text
  return urls.replace(PASSWORD_KEYWORD, `password=${MASK}`)
}
