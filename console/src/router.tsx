/** The app's routes, by path: every page has a URL that can be linked and reloaded. */
import { useEffect, useState } from 'preact/hooks'

export type Route =
  | { kind: 'overview' }
  | { kind: 'sql'; sql?: string }
  | { kind: 'view'; name: string }
  | { kind: 'trigger'; name: string }
  | { kind: 'dead_letters' }
  | { kind: 'late_events' }

export function parseRoute(path: string, search = ''): Route {
  const view = /^\/views\/([^/]+)\/?$/.exec(path)
  if (view) return { kind: 'view', name: decodeURIComponent(view[1]!) }
  const trigger = /^\/triggers\/([^/]+)\/?$/.exec(path)
  if (trigger) return { kind: 'trigger', name: decodeURIComponent(trigger[1]!) }
  if (path === '/sql') return { kind: 'sql', sql: new URLSearchParams(search).get('q') ?? undefined }
  if (path === '/dead-letters') return { kind: 'dead_letters' }
  if (path === '/late-events') return { kind: 'late_events' }
  return { kind: 'overview' }
}

export function navigate(href: string): void {
  history.pushState(null, '', href)
  dispatchEvent(new PopStateEvent('popstate'))
}

/** The current route, following links and the back button. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname, location.search))
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.pathname, location.search))
    addEventListener('popstate', on)
    return () => removeEventListener('popstate', on)
  }, [])
  return route
}

/** An in-app link: navigates without reloading the page. */
export function Link(props: { href: string; children: preact.ComponentChildren; class?: string }) {
  return (
    <a
      href={props.href}
      class={props.class}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return
        e.preventDefault()
        navigate(props.href)
      }}
    >
      {props.children}
    </a>
  )
}
