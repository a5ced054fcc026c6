import { describe, expect, test } from 'vitest'
import { WebhookRefused, addressKind, destinationOf, parseAllowList, refusalOf, type Resolver } from './webhook-policy.ts'
import { redactSecrets, redactUrl } from './webhook-secrets.ts'

describe('addressKind', () => {
  test.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'private (unique local)'],
    ['fd12:3456::1', 'private (unique local)'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
  ])('%s is %s', (address, kind) => {
    expect(addressKind(address)).toBe(kind)
  })

  test.each(['8.8.8.8', '172.32.0.1', '172.15.255.255', '192.169.0.1', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
    expect(addressKind(address)).toBeNull()
  })
})

describe('allow-list', () => {
  test('entries: hosts, ports, wildcards, IPv6, normalised like URLs', () => {
    expect(parseAllowList('Hooks.Example.com, *.crm.example:8443 ,127.0.0.1,[::1]:9000,::1,*').entries).toEqual([
      { host: 'hooks.example.com', wildcard: false, port: null },
      { host: 'crm.example', wildcard: true, port: 8443 },
      { host: '127.0.0.1', wildcard: false, port: null },
      { host: '[::1]', wildcard: false, port: 9000 },
      { host: '[::1]', wildcard: false, port: null },
      { host: '*', wildcard: true, port: null },
    ])
    expect(() => parseAllowList('host:http')).toThrow(/port must be a number/)
    expect(() => parseAllowList('a*b.example')).toThrow(/expected host/)
    expect(() => parseAllowList('host:70000')).toThrow(/1 to 65535/)
  })

  test('the empty list admits public hosts and refuses address literals that are not public', () => {
    const open = parseAllowList('')
    expect(refusalOf(open, 'https://hooks.example.com/x')).toBeNull()
    expect(refusalOf(open, 'http://127.0.0.1:8080/x')?.message).toMatch(/127\.0\.0\.1 is a loopback address.*--webhook-allow 127\.0\.0\.1/)
    // Other spellings of the same address are normalised first.
    expect(refusalOf(open, 'http://0x7f.1/x')?.message).toMatch(/loopback/)
    expect(refusalOf(open, 'http://2130706433/x')?.message).toMatch(/loopback/)
    expect(refusalOf(open, 'http://[::ffff:169.254.169.254]/latest')?.message).toMatch(/link-local/)
    expect(refusalOf(open, 'http://localhost:9/x')?.message).toMatch(/loopback/)
    expect(refusalOf(open, 'http://[fd00::1]/x')?.message).toMatch(/unique local/)
    expect(refusalOf(open, 'ftp://example.com/x')?.malformed).toBe(true)
  })

  test('a listed host may be reached at any address; a wildcard admits public addresses only', () => {
    const list = parseAllowList('127.0.0.1,crm.internal:8080,*.example.com')
    expect(refusalOf(list, 'http://127.0.0.1:1234/x')).toBeNull()
    expect(refusalOf(list, 'http://crm.internal:8080/x')).toBeNull()
    expect(refusalOf(list, 'http://crm.internal:8081/x')?.message).toMatch(/not in the webhook allow-list/)
    expect(refusalOf(list, 'http://hooks.example.com/x')).toBeNull()
    expect(refusalOf(list, 'http://example.com/x')?.message).toMatch(/not in the webhook allow-list/)
    expect(refusalOf(list, 'http://evil.com/x')?.message).toMatch(/not in the webhook allow-list/)
    expect(refusalOf(list, 'http://localhost:1234/x')?.message).toMatch(/not in the webhook allow-list/)
    expect(refusalOf(parseAllowList('*'), 'http://10.0.0.1/x')?.message).toMatch(/private/)
  })
})

describe('destinationOf: every resolved address is checked', () => {
  const resolver =
    (addresses: string[]): Resolver =>
    async () =>
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))

  test('a name that resolves to a private address (among public ones) is refused', async () => {
    await expect(destinationOf(parseAllowList(''), 'https://rebind.example/x', resolver(['93.184.216.34', '10.0.0.7']))).rejects.toThrow(WebhookRefused)
    await expect(destinationOf(parseAllowList('*.example'), 'https://rebind.example.example/x', resolver(['::1']))).rejects.toThrow(/at ::1, a loopback address/)
  })

  test('the destination carries exactly the addresses checked', async () => {
    const d = await destinationOf(parseAllowList(''), 'https://hooks.example/x', resolver(['93.184.216.34', '2606:2800:220:1::1']))
    expect(d.addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ])
    const named = await destinationOf(parseAllowList('crm.internal'), 'http://crm.internal/x', resolver(['10.0.0.7']))
    expect(named.addresses).toEqual([{ address: '10.0.0.7', family: 4 }])
  })
})

describe('redaction', () => {
  test('user information and secret-looking parameters are hidden, the rest stays', () => {
    expect(redactUrl('https://bob:hunter2@hooks.example/offers?campaign=7&token=abc123&Signature=zz#x')).toBe('https://***@hooks.example/offers?campaign=7&token=***&Signature=***#x')
    expect(redactUrl('https://hooks.example/h?api_key=k1&sig=s&page=2')).toBe('https://hooks.example/h?api_key=***&sig=***&page=2')
    expect(redactUrl('https://hooks.example/plain')).toBe('https://hooks.example/plain')
    const sql = "CREATE TRIGGER t AFTER INSERT ON s FOR EACH ROW EXECUTE WEBHOOK 'https://u:p@h.example/x?secret=s1', NEW.id::text"
    expect(redactSecrets(sql)).toBe("CREATE TRIGGER t AFTER INSERT ON s FOR EACH ROW EXECUTE WEBHOOK 'https://***@h.example/x?secret=***', NEW.id::text")
  })
})
