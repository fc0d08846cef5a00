// Length-prefixed frames over a libp2p stream (it-pipe + it-length-prefixed), with a deadline on every
// read and write. A read past the deadline, or a frame over the size limit, aborts the stream with an
// error naming what happened: the caller treats the peer as misbehaving.

import type { Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { pushable } from 'it-pushable'
import type { Uint8ArrayList } from 'uint8arraylist'

export class StreamTimeoutError extends Error {
  override readonly name = 'StreamTimeoutError'
}

export interface FramedStream {
  /** The next frame, or undefined when the peer closed its side. */
  read(): Promise<Uint8Array | undefined>
  write(frame: Uint8Array): Promise<void>
  /** Ends our side and waits until everything written has been handed to the stream. */
  close(): Promise<void>
  abort(error: Error): void
}

export function framedStream (stream: Stream, options: { maxFrameBytes: number, stepTimeoutMs: number }): FramedStream {
  const outgoing = pushable<Uint8Array>()
  const sinkDone = pipe(outgoing, (source) => lp.encode(source), stream.sink)
  sinkDone.catch(() => {}) // surfaced through close() or the next read
  const incoming = lp.decode(stream.source, { maxDataLength: options.maxFrameBytes })[Symbol.asyncIterator]()

  const withDeadline = async <T>(work: Promise<T>, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new StreamTimeoutError(`${what} took longer than ${options.stepTimeoutMs} ms`)), options.stepTimeoutMs)
    })
    try {
      return await Promise.race([work, deadline])
    } catch (error) {
      stream.abort(error as Error)
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    async read () {
      const next = await withDeadline(incoming.next(), 'read') as IteratorResult<Uint8ArrayList>
      return next.done === true ? undefined : next.value.subarray()
    },
    async write (frame) {
      outgoing.push(frame)
      // The pushable buffers without bound: wait until the frame is drained (with a deadline), so a peer
      // that stops reading cannot make us hold everything we meant to send.
      await withDeadline(outgoing.onEmpty(), 'write')
    },
    async close () {
      outgoing.end()
      await withDeadline(sinkDone, 'close')
    },
    abort (error) {
      stream.abort(error)
    },
  }
}
