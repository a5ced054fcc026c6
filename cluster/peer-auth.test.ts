import { describe, expect, test } from 'vitest'
import { signPeerRequest, verifyPeerRequest } from './peer-auth.ts'

describe('peer request signatures', () => {
  test('a request signed with the cluster secret is taken; another secret, another body, or an old one is not', () => {
    const body = JSON.stringify({ view: 'per_player', tasks: [0, 3] })
    const now = 1_800_000_000_000
    const sig = signPeerRequest('s3cret', body, now)
    expect(verifyPeerRequest('s3cret', sig, body, now + 1000)).toBe(true)
    expect(verifyPeerRequest('other', sig, body, now)).toBe(false)
    expect(verifyPeerRequest('s3cret', sig, body.replace('3', '4'), now)).toBe(false)
    expect(verifyPeerRequest('s3cret', sig, body, now + 10 * 60_000)).toBe(false)
    expect(verifyPeerRequest(null, sig, body, now)).toBe(false)
    expect(verifyPeerRequest('s3cret', undefined, body, now)).toBe(false)
    expect(verifyPeerRequest('s3cret', 'garbage', body, now)).toBe(false)
  })
})
