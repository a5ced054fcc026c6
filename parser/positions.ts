/**
 * Position bookkeeping between libpg-query and our spans. libpg-query reports node locations as UTF-8 byte
 * offsets and error cursors as code-point offsets, both relative to the text it was given; our spans are
 * JavaScript string offsets (UTF-16 code units) into the whole input. A `Positions` maps one text slice
 * handed to libpg-query back to the input, including any ASCII prefix we put in front (`SELECT ` when
 * parsing a lone expression).
 */

const ASCII_ONLY = /^[\x00-\x7f]*$/

export class Positions {
  private byteToChar: Int32Array | undefined
  private codePointToChar: Int32Array | undefined

  /**
   * @param text the slice of the input libpg-query sees (after our same-length rewrites, without prefix)
   * @param offset where `text` starts in the whole input
   * @param prefixLength ASCII characters prepended to `text` before parsing
   */
  constructor(
    private readonly text: string,
    private readonly offset: number,
    private readonly prefixLength: number,
  ) {
    if (!ASCII_ONLY.test(text)) this.buildMaps()
  }

  /** Input offset of a libpg-query node location (UTF-8 bytes into prefix + text). */
  fromByte(location: number): number {
    const local = Math.max(0, location - this.prefixLength)
    if (this.byteToChar === undefined) return this.offset + Math.min(local, this.text.length)
    return this.offset + this.byteToChar[Math.min(local, this.byteToChar.length - 1)]!
  }

  /** Input offset of a libpg-query error cursor (code points into prefix + text). */
  fromCodePoint(cursor: number): number {
    const local = Math.max(0, cursor - this.prefixLength)
    if (this.codePointToChar === undefined) return this.offset + Math.min(local, this.text.length)
    return this.offset + this.codePointToChar[Math.min(local, this.codePointToChar.length - 1)]!
  }

  private buildMaps(): void {
    const bytes: number[] = []
    const points: number[] = []
    let i = 0
    while (i < this.text.length) {
      const cp = this.text.codePointAt(i)!
      const units = cp > 0xffff ? 2 : 1
      const width = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
      for (let b = 0; b < width; b++) bytes.push(i)
      points.push(i)
      i += units
    }
    bytes.push(this.text.length)
    points.push(this.text.length)
    this.byteToChar = Int32Array.from(bytes)
    this.codePointToChar = Int32Array.from(points)
  }
}
