/**
 * The decode thread's side (decode-worker.ts): builds each stream's decoder once, then decodes batches in
 * the order they come and sends back their rows as columns, transferring the buffers.
 */
import { parentPort } from 'node:worker_threads'
import type { StreamDef } from '../planner/catalog.ts'
import { columnCodecs, decodeColumns, transferList, type ColumnCodec, type FromWorker, type ToWorker } from './decode-worker.ts'
import { streamByteDecoder, streamDecoder, type ByteStreamDecoder, type StreamDecoder } from './record-decoder.ts'

const streams = new Map<number, { readonly decode: StreamDecoder; readonly bytes: ByteStreamDecoder | null; readonly codecs: ColumnCodec[] }>()

parentPort!.on('message', (m: ToWorker) => {
  if (m.kind === 'define') {
    const read = m.def.read === null ? null : new Set(m.def.read)
    const codecs = columnCodecs(m.def, read)
    const def = m.def as unknown as StreamDef
    if (codecs !== null) streams.set(m.stream, { decode: streamDecoder(def), bytes: streamByteDecoder(def, read), codecs })
    return
  }
  let reply: FromWorker
  let transfer: ArrayBuffer[] = []
  try {
    const s = streams.get(m.stream)
    if (s === undefined) throw new Error(`stream ${m.stream} is not defined on the decode thread`)
    const decoded = decodeColumns(s.decode, s.bytes, s.codecs, m.records, m.partition, m.offsets, m.timestamps)
    reply = { id: m.id, decoded }
    transfer = transferList(decoded)
  } catch (err) {
    reply = { id: m.id, error: (err as Error).message }
  }
  parentPort!.postMessage(reply, transfer)
})
