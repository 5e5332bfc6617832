/**
 * Replica storage on the simulator's disk: records as length-prefixed
 * frames appended to one file, made durable by the disk's `sync()`. A crash
 * keeps only what was synced, so the driver's persist-before-send order is
 * what the simulation checks.
 *
 * @module
 * @internal
 */

import type { SimDisk } from '../../cluster/sim/index.js'
import { applyRecord, decodeRecord, emptyDurableState, encodeRecord } from '../../cluster/paxos/index.js'
import type { DurableState, PersistRecord, ReplicaStorage } from '../../cluster/paxos/index.js'

const FILE = 'paxos.log'

/** Storage of one replica on a simulated disk. @internal */
export class SimDiskStorage implements ReplicaStorage {
  readonly #disk: SimDisk
  readonly #state: DurableState
  readonly #file: string

  /** Reads what the disk holds (up to the first incomplete frame); `file` names the log (several replicas may share a disk). */
  constructor (disk: SimDisk, file = FILE) {
    this.#disk = disk
    this.#file = file
    this.#state = emptyDurableState()
    const bytes = disk.read(file) ?? new Uint8Array(0)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let off = 0
    while (off + 4 <= bytes.length) {
      const len = view.getUint32(off)
      if (off + 4 + len > bytes.length) break
      applyRecord(this.#state, decodeRecord(bytes.subarray(off + 4, off + 4 + len)))
      off += 4 + len
    }
  }

  recovered (): DurableState {
    return { ...this.#state, accepted: new Map(this.#state.accepted) }
  }

  async write (records: readonly PersistRecord[]): Promise<void> {
    if (records.length === 0) return
    for (const rec of records) {
      const body = encodeRecord(rec)
      const frame = new Uint8Array(4 + body.length)
      new DataView(frame.buffer).setUint32(0, body.length)
      frame.set(body, 4)
      this.#disk.append(this.#file, frame)
    }
    await this.#disk.sync()
  }

  async close (): Promise<void> {
    await this.#disk.sync()
  }
}
