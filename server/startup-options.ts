/** The startup packet's `options` parameter (libpq's PGOPTIONS): settings a client gives at connection time. */

/** Parses startup `options` (`-c name=value`, `--name=value`) into settings. */
export function parseStartupOptions(options: string): Map<string, string> {
  const out = new Map<string, string>()
  // Backslash escapes a space inside a value, as libpq documents.
  const words = (options.match(/(?:\\.|[^\s\\])+/g) ?? []).map((w) => w.replace(/\\(.)/g, '$1'))
  for (let i = 0; i < words.length; i++) {
    let setting: string | undefined
    const w = words[i]!
    if (w === '-c') setting = words[++i]
    else if (w.startsWith('-c')) setting = w.slice(2)
    else if (w.startsWith('--')) setting = w.slice(2)
    if (setting === undefined) continue
    const eq = setting.indexOf('=')
    if (eq > 0) out.set(setting.slice(0, eq).replace(/-/g, '_'), setting.slice(eq + 1))
  }
  return out
}
