/**
 * Checking decoded Paxos messages and durable records: the transport hands
 * over whatever msgpackr decoded, so every field's type, every size and the
 * version are checked before the replica sees it.
 *
 * @module
 */

import { pack, unpack } from 'msgpackr'
import { MakoError } from '../../lib/errors.js'
import { isBallot } from './ballot.js'
import type { PaxosMessage, PersistRecord, Value } from './types.js'
import { paxosWireVersion } from './types.js'

/** Most entries or slots one message may carry. */
export const maxMessageEntries = 100_000
/** Most commands one slot may carry. */
export const maxSlotCommands = 100_000
/** Longest id (node, command, value) accepted, in characters. */
export const maxIdChars = 1024

function bad (why: string): never {
  throw new MakoError(`Bad Paxos message: ${why}`, 'MAKO_BAD_MESSAGE')
}

function isSlot (x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0
}

function isId (x: unknown): x is string {
  return typeof x === 'string' && x.length <= maxIdChars
}

function isBool (x: unknown): x is boolean {
  return typeof x === 'boolean'
}

/**
 * Whether a decoded value is a well-formed slot {@link Value}.
 *
 * @param v Anything.
 */
export function isValue (v: unknown): v is Value {
  if (typeof v !== 'object' || v === null) return false
  const o = v as Record<string, unknown>
  if (!isId(o['id'])) return false
  switch (o['k']) {
    case 'noop': return true
    case 'epoch': return isBallot(o['epoch']) && isSlot(o['previousFinal'])
    case 'batch': {
      const cmds = o['cmds']
      if (!Array.isArray(cmds) || cmds.length > maxSlotCommands) return false
      for (const c of cmds) {
        if (typeof c !== 'object' || c === null || !isId((c as Record<string, unknown>)['id'])) return false
      }
      return true
    }
    default: return false
  }
}

function slotValues (x: unknown): boolean {
  if (!Array.isArray(x) || x.length > maxMessageEntries) return false
  for (const e of x) if (!Array.isArray(e) || e.length !== 2 || !isSlot(e[0]) || !isValue(e[1])) return false
  return true
}

/**
 * Checks a decoded message and returns it typed.
 *
 * @param x What the transport decoded.
 * @throws MakoError `MAKO_BAD_MESSAGE` naming the first problem.
 */
export function validateMessage (x: unknown): PaxosMessage {
  if (typeof x !== 'object' || x === null) bad('not an object')
  const m = x as Record<string, unknown>
  if (m['v'] !== paxosWireVersion) bad(`version ${String(m['v'])}`)
  if (!isSlot(m['cfg'])) bad('cfg')
  if (!isId(m['from'])) bad('from')
  const need = (ok: boolean, field: string): void => { if (!ok) bad(`${String(m['t'])}.${field}`) }
  switch (m['t']) {
    case 'prepare':
      need(isBallot(m['b']), 'b'); need(isSlot(m['fromSlot']), 'fromSlot'); break
    case 'promise': {
      need(isBallot(m['b']), 'b'); need(isBool(m['ok']), 'ok'); need(isBallot(m['promised']), 'promised')
      need(isSlot(m['commit']), 'commit'); need(isSlot(m['first']), 'first'); need(isBool(m['rec']), 'rec'); need(isId(m['disk']), 'disk')
      const acc = m['acc']
      need(Array.isArray(acc) && acc.length <= maxMessageEntries, 'acc')
      for (const e of acc as unknown[]) {
        need(Array.isArray(e) && e.length === 4 && isSlot(e[0]) && isBallot(e[1]) && isValue(e[2]) && isBool(e[3]), 'acc[]')
      }
      break
    }
    case 'accept':
      need(isBallot(m['b']), 'b'); need(slotValues(m['entries']), 'entries'); need(isSlot(m['commit']), 'commit'); need(isSlot(m['p1']), 'p1'); break
    case 'accepted': {
      need(isBallot(m['b']), 'b'); need(isBool(m['ok']), 'ok'); need(isBallot(m['promised']), 'promised'); need(isSlot(m['commit']), 'commit')
      const slots = m['slots']
      need(Array.isArray(slots) && slots.length <= maxMessageEntries && slots.every(isSlot), 'slots')
      break
    }
    case 'heartbeat':
      need(isBallot(m['b']), 'b'); need(isSlot(m['commit']), 'commit'); need(isSlot(m['ctx']), 'ctx'); need(isSlot(m['p1']), 'p1'); break
    case 'heartbeatAck':
      need(isBallot(m['b']), 'b'); need(isBool(m['ok']), 'ok'); need(isBallot(m['promised']), 'promised'); need(isSlot(m['ctx']), 'ctx')
      need(isSlot(m['commit']), 'commit'); break
    case 'fetch':
      need(isSlot(m['next']), 'next'); break
    case 'entries':
      need(slotValues(m['entries']), 'entries'); need(isSlot(m['commit']), 'commit'); break
    case 'snapshot':
      need(isSlot(m['index']), 'index'); need(m['data'] instanceof Uint8Array, 'data'); need(isSlot(m['commit']), 'commit'); break
    case 'recoverQuery':
      need(isId(m['disk']), 'disk'); break
    case 'recoverInfo':
      need(isId(m['disk']), 'disk'); need(isBallot(m['promised']), 'promised'); need(isBool(m['empty']), 'empty'); need(isSlot(m['commit']), 'commit'); break
    default:
      bad(`type ${String(m['t'])}`)
  }
  return x as PaxosMessage
}

/**
 * Encodes a durable record for the log.
 *
 * @param rec The record.
 */
export function encodeRecord (rec: PersistRecord): Uint8Array {
  return pack(rec)
}

/**
 * Decodes and checks a durable record.
 *
 * @param bytes A payload from the log.
 * @throws MakoError `MAKO_CORRUPTION` when it is not a record.
 */
export function decodeRecord (bytes: Uint8Array): PersistRecord {
  let x: unknown
  try {
    x = unpack(bytes)
  } catch (err) {
    throw new MakoError('Undecodable Paxos record', 'MAKO_CORRUPTION', { cause: err })
  }
  const r = x as Record<string, unknown>
  const ok = typeof x === 'object' && x !== null && (
    (r['r'] === 'promise' && isBallot(r['b'])) ||
    (r['r'] === 'accept' && isSlot(r['slot']) && isBallot(r['b']) && isValue(r['value']) && isBool(r['chosen'])) ||
    (r['r'] === 'commit' && isSlot(r['index'])) ||
    (r['r'] === 'snapshot' && isSlot(r['index']) && r['data'] instanceof Uint8Array) ||
    (r['r'] === 'meta' && isId(r['disk']) && (r['recovery'] === null || (typeof r['recovery'] === 'object' && isBallot((r['recovery'] as Record<string, unknown>)['floor']))))
  )
  if (!ok) throw new MakoError('Malformed Paxos record', 'MAKO_CORRUPTION')
  return x as PersistRecord
}
