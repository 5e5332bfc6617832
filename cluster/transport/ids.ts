/**
 * Branded identifiers of the cluster. A branded string is a plain string at
 * run time; the brand only stops a `NodeId` being passed where a `ClusterId`
 * (or any unchecked string) is expected.
 *
 * @module
 */

import { MakoError } from '../../lib/errors.js'

/** The name of one peer (a process) of the cluster, such as `"n1"`. */
export type NodeId = string & {
  /** Compile-time brand only; absent at run time. */
  readonly __brand: 'NodeId'
}

/** The name of one cluster; peers of different clusters refuse each other. */
export type ClusterId = string & {
  /** Compile-time brand only; absent at run time. */
  readonly __brand: 'ClusterId'
}

/** The longest node or cluster id accepted, in characters. */
export const maxIdLength = 64

// Ids travel in handshakes and HMAC transcripts and end up in logs and close
// reasons: a small, printable alphabet keeps all of those unambiguous.
const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

/**
 * Whether `value` is a well-formed id: 1 to {@link maxIdLength} characters of
 * letters, digits and `._:-`, starting with a letter or digit.
 *
 * @param value Anything, typically decoded from the wire.
 */
export function isValidId (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxIdLength && idPattern.test(value)
}

/**
 * Checks and brands a node id.
 *
 * @param value The id, such as `"n1"`.
 * @throws MakoError `MAKO_INVALID_ID` if the id is malformed.
 */
export function nodeId (value: string): NodeId {
  if (!isValidId(value)) throw new MakoError(`Invalid node id: ${JSON.stringify(String(value)).slice(0, 80)}`, 'MAKO_INVALID_ID')
  return value as NodeId
}

/**
 * Checks and brands a cluster id.
 *
 * @param value The id, such as `"prod-eu"`.
 * @throws MakoError `MAKO_INVALID_ID` if the id is malformed.
 */
export function clusterId (value: string): ClusterId {
  if (!isValidId(value)) throw new MakoError(`Invalid cluster id: ${JSON.stringify(String(value)).slice(0, 80)}`, 'MAKO_INVALID_ID')
  return value as ClusterId
}
