import t from 'tap'
import { crc32c, crc32cBytewise, crc32cRange } from '../adapters/disk/crc32c.js'
import { Random, testSeed } from './util/random.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const filled = (n: number, f: (i: number) => number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => f(i))

t.test('known vectors (RFC 3720 B.4 and the check value)', async (t) => {
  const vectors: Array<[string, Uint8Array, number]> = [
    ['empty', new Uint8Array(0), 0],
    ['"123456789" (the check value)', text('123456789'), 0xe3069283],
    ['32 bytes of 0x00', filled(32, () => 0), 0x8a9136aa],
    ['32 bytes of 0xff', filled(32, () => 0xff), 0x62a8ab43],
    ['32 ascending bytes', filled(32, (i) => i), 0x46dd794e],
    ['32 descending bytes', filled(32, (i) => 31 - i), 0x113fdb5c],
    ['an iSCSI read command PDU', Uint8Array.from([
      0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18,
      0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0]), 0xd9963a56],
    ['the quick brown fox', text('The quick brown fox jumps over the lazy dog'), 0x22620404]
  ]
  for (const [name, data, want] of vectors) {
    t.equal(crc32c(data), want, `${name}: sliced`)
    t.equal(crc32cBytewise(data), want, `${name}: bytewise`)
  }
  // The DataView path starts at 256 bytes: a long input must agree too.
  const long = filled(10000, (i) => (i * 7 + 3) & 0xff)
  t.equal(crc32c(long), crc32cBytewise(long), '10,000 bytes: both loops agree')
})

t.test('random inputs, offsets and splits agree with the byte-at-a-time loop', async (t) => {
  const seed = testSeed()
  const rng = new Random(seed)
  let bad = 0
  for (let round = 0; round < 300 && bad < 5; round++) {
    const backing = rng.bytes(rng.int(3000) + 1)
    // An unaligned view exercises DataView reads at odd byteOffsets.
    const start = rng.int(Math.min(7, backing.length))
    const data = backing.subarray(start)
    const want = crc32cBytewise(data)
    const cut = rng.int(data.length + 1)
    const split = crc32cRange(data, cut, data.length, crc32cRange(data, 0, cut))
    if (crc32c(data) !== want || split !== want) {
      bad++
      t.fail(`mismatch at round ${round}, length ${data.length}, offset ${start}, cut ${cut} (seed ${seed})`)
    }
  }
  t.equal(bad, 0, `300 random inputs (seed ${seed})`)
})
