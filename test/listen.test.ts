/**
 * LISTEN / UNLISTEN / NOTIFY over the wire, with real clients: node-postgres receives notifications as
 * 'notification' events, psql prints them as it does for PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type pg from 'pg'
import { eventually, removeDir, startSluice, type SluiceProcess } from './helpers/sluice-process.ts'

describe('LISTEN and NOTIFY', () => {
  let sluice: SluiceProcess
  beforeAll(async () => {
    sluice = await startSluice()
  })
  afterAll(async () => {
    await sluice?.stop()
    if (sluice) await removeDir(sluice.dataDir)
  })

  test('node-postgres: a listener gets every notification on its channel, in order, with the sender pid', async () => {
    const listener = await sluice.client()
    const other = await sluice.client()
    const sender = await sluice.client()
    try {
      const got: pg.Notification[] = []
      const otherGot: pg.Notification[] = []
      listener.on('notification', (n) => got.push(n))
      other.on('notification', (n) => otherGot.push(n))
      await listener.query('LISTEN crm_offers')
      await other.query('LISTEN "Other Channel"')
      const senderPid = Number((await sender.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)
      for (let i = 0; i < 5; i++) await sender.query(`NOTIFY crm_offers, '{"offer": ${i}}'`)
      await sender.query('NOTIFY unheard')
      await eventually(async () => got.length, (n) => n === 5)
      expect(got.map((n) => n.payload)).toEqual([0, 1, 2, 3, 4].map((i) => `{"offer": ${i}}`))
      expect(got.every((n) => n.channel === 'crm_offers' && n.processId === senderPid)).toBe(true)
      expect(otherGot).toEqual([])

      // Inside a transaction block a NOTIFY goes out at COMMIT, and never after ROLLBACK.
      await sender.query('BEGIN')
      await sender.query("NOTIFY crm_offers, 'committed'")
      // A NOTIFY from another session outside any transaction arrives; the one held for COMMIT does not.
      await other.query("NOTIFY crm_offers, 'probe'")
      await eventually(async () => got.length, (n) => n === 6)
      expect(got[5]!.payload).toBe('probe')
      got.pop()
      await sender.query('COMMIT')
      await sender.query('BEGIN')
      await sender.query("NOTIFY crm_offers, 'rolled back'")
      await sender.query('ROLLBACK')
      await eventually(async () => got.length, (n) => n === 6)
      expect(got[5]!.payload).toBe('committed')

      await listener.query('UNLISTEN *')
      await sender.query("NOTIFY crm_offers, 'after unlisten'")
      await sender.query('NOTIFY "Other Channel"')
      await eventually(async () => otherGot.length, (n) => n === 1)
      expect(got.length).toBe(6)
      expect(otherGot[0]!.channel).toBe('Other Channel')

      const tooLong = await sender.query(`NOTIFY crm_offers, '${'x'.repeat(8000)}'`).catch((e: { code: string }) => e.code)
      expect(tooLong).toBe('22023')
    } finally {
      await Promise.all([listener.end(), other.end(), sender.end()])
    }
  })

  test('pg_notify with parameters, as drivers send it, notifies too', async () => {
    const listener = await sluice.client()
    const sender = await sluice.client()
    try {
      const got: string[] = []
      listener.on('notification', (n) => got.push(`${n.channel}:${n.payload}`))
      await listener.query('LISTEN jobs')
      const r = await sender.query('SELECT pg_notify($1, $2) AS sent', ['jobs', '{"id": 1}'])
      expect(r.rows).toEqual([{ sent: '' }])
      await eventually(async () => got.length, (n) => n === 1)
      expect(got).toEqual(['jobs:{"id": 1}'])
      const empty = await sender.query("SELECT pg_notify('', 'x')").catch((e: { code: string }) => e.code)
      expect(empty).toBe('22023')
    } finally {
      await Promise.all([listener.end(), sender.end()])
    }
  })

  test('psql prints the asynchronous notification it receives', () => {
    const r = sluice.psql("LISTEN ch; NOTIFY ch, 'hello from psql'; SELECT 1 AS one;")
    expect(r.stdout).toMatch(/Asynchronous notification "ch" with payload "hello from psql" received from server process with PID \d+\./)
  })
})
