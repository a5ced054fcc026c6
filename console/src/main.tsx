/** The Sluice web console: login, then the pages of router.tsx under one navigation bar. */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import 'uplot/dist/uPlot.min.css'
import './style.css'
import { LoggedOut, type Me, login, logout, me } from './api.ts'
import { Link, type Route, useRoute } from './router.tsx'
import { OverviewPage } from './pages/overview.tsx'
import { EditorPage } from './pages/editor.tsx'
import { ViewPage } from './pages/view.tsx'
import { TriggerPage } from './pages/trigger.tsx'
import { DeadLettersPage, LateEventsPage } from './pages/records.tsx'

function App() {
  const [user, setUser] = useState<Me | null | 'loading'>('loading')
  const route = useRoute()
  useEffect(() => {
    me().then(setUser, (e: unknown) => setUser(e instanceof LoggedOut ? null : 'loading'))
    const onLoggedOut = (e: PromiseRejectionEvent) => {
      if (e.reason instanceof LoggedOut) setUser(null)
    }
    addEventListener('unhandledrejection', onLoggedOut)
    return () => removeEventListener('unhandledrejection', onLoggedOut)
  }, [])
  if (user === 'loading') return <p class="muted pad">Loading…</p>
  if (user === null) return <LoginPage onLogin={setUser} />
  return (
    <div class="app">
      <nav class="nav">
        <span class="brand">Sluice</span>
        <Link href="/">Overview</Link>
        <Link href="/sql">SQL</Link>
        <Link href="/dead-letters">Dead letters</Link>
        <Link href="/late-events">Late events</Link>
        <span class="spacer" />
        <span class="who" data-role={user.role}>
          {user.user} · {user.role === 'readonly' ? 'read-only' : 'admin'}
        </span>
        {user.loginRequired && (
          <button class="link" onClick={() => void logout().then(() => setUser(null))}>
            Log out
          </button>
        )}
      </nav>
      <main class="main">
        <Page route={route} me={user} />
      </main>
    </div>
  )
}

function Page(props: { route: Route; me: Me }) {
  const r = props.route
  switch (r.kind) {
    case 'overview':
      return <OverviewPage />
    case 'sql':
      return <EditorPage me={props.me} initial={r.sql} />
    case 'view':
      return <ViewPage name={r.name} />
    case 'trigger':
      return <TriggerPage name={r.name} />
    case 'dead_letters':
      return <DeadLettersPage />
    case 'late_events':
      return <LateEventsPage />
  }
}

function LoginPage(props: { onLogin: (m: Me) => void }) {
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  const submit = (e: Event) => {
    e.preventDefault()
    login(name, password).then(props.onLogin, (err: Error) => setError(err.message))
  }
  return (
    <form class="login" onSubmit={submit}>
      <h1>Sluice</h1>
      <label>
        User
        <input name="user" autocomplete="username" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Password
        <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <button type="submit">Log in</button>
      {error !== null && <p class="error-text">{error}</p>}
    </form>
  )
}

render(<App />, document.getElementById('app')!)
