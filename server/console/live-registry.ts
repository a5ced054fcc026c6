/** The open live feeds, so that closing the server can end them (an open feed would keep it from closing). */
import type { ServerResponse } from 'node:http'

export interface LiveFeeds {
  /** Registers a feed; call the returned function when it ended. */
  add(res: ServerResponse): () => void
  closeAll(): void
  readonly size: number
}

export function live(): LiveFeeds {
  const open = new Set<ServerResponse>()
  return {
    add(res) {
      open.add(res)
      return () => open.delete(res)
    },
    closeAll() {
      for (const res of open) res.destroy()
      open.clear()
    },
    get size() {
      return open.size
    },
  }
}
