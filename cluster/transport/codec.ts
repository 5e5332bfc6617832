/**
 * The wire format, version 1. A WebSocket frame is one version byte followed
 * by one or more msgpack values laid end to end; each value is one envelope,
 * a short array whose first element is its type tag. Every envelope is
 * checked for shape, field types and sizes before anything acts on it, and a
 * frame with a truncated or trailing value is refused as a whole.
 *
 * Arrays rather than maps keep envelopes small and let msgpackr decode them
 * without building keyed objects on the hot path.
 *
 * @module
 */

import { Packr, Unpackr } from 'msgpackr'
import { MakoError } from '../../lib/errors.js'
import { TransportCodes } from './codes.js'
import { isValidId } from './ids.js'
import type { ClusterId, NodeId } from './ids.js'
import { maxRequestTimeout } from './types.js'

/** The wire version this code writes. */
export const wireVersion = 1
/** The oldest wire version this code reads. */
export const minWireVersion = 1
/** The newest wire version this code reads. */
export const maxWireVersion = 1

/** Type tags of the envelopes of version 1. */
export const Tag = {
  /** A one-way message. */
  message: 0,
  /** A request that expects a response with the same id. */
  request: 1,
  /** A successful response. */
  response: 2,
  /** A failed response: a code, a message and a transient flag. */
  error: 3,
  /** The requester gave up on a request. */
  cancel: 4,
  /** Server to client, first: versions, cluster, server node, nonce. */
  challenge: 5,
  /** Client to server: version chosen, client node, nonce, proof, limits. */
  hello: 6,
  /** Server to client: its proof and limits; the link is up. */
  welcome: 7
} as const

/** Length in bytes of handshake nonces and HMAC-SHA256 proofs. */
export const nonceLength = 32

/** What each side tells the other in the handshake: `[maxPayload, maxInFlight]`. */
export type WireLimits = readonly [maxPayload: number, maxInFlight: number]

/** `[0, payload]` */
export type MessageEnvelope = readonly [tag: 0, payload: unknown]
/** `[1, id, timeoutMs, payload]` */
export type RequestEnvelope = readonly [tag: 1, id: number, timeout: number, payload: unknown]
/** `[2, id, payload]` */
export type ResponseEnvelope = readonly [tag: 2, id: number, payload: unknown]
/** `[3, id, code, message, transient]` */
export type ErrorEnvelope = readonly [tag: 3, id: number, code: string, message: string, transient: boolean]
/** `[4, id]` */
export type CancelEnvelope = readonly [tag: 4, id: number]
/** `[5, minVersion, maxVersion, clusterId, serverNodeId, serverNonce]` */
export type ChallengeEnvelope = readonly [tag: 5, minVersion: number, maxVersion: number, cluster: ClusterId, node: NodeId, nonce: Uint8Array]
/** `[6, version, clusterId, clientNodeId, clientNonce, proof, limits]` */
export type HelloEnvelope = readonly [tag: 6, version: number, cluster: ClusterId, node: NodeId, nonce: Uint8Array, proof: Uint8Array, limits: WireLimits]
/** `[7, proof, limits]` */
export type WelcomeEnvelope = readonly [tag: 7, proof: Uint8Array, limits: WireLimits]

/** Envelopes exchanged once a link is up. */
export type SessionEnvelope = MessageEnvelope | RequestEnvelope | ResponseEnvelope | ErrorEnvelope | CancelEnvelope
/** Envelopes of the handshake. */
export type HandshakeEnvelope = ChallengeEnvelope | HelloEnvelope | WelcomeEnvelope
/** Any envelope of version 1. */
export type Envelope = SessionEnvelope | HandshakeEnvelope

/** Longest error message carried in an error envelope, in characters. */
export const maxErrorMessageLength = 2048
const codePattern = /^[A-Z][A-Z0-9_]{0,63}$/

// One encoder and one decoder for the process. Records, structured clones and
// bundled strings are off: they make a decoder keep state between values,
// and a peer must not be able to define structures we then apply to others.
const packr = new Packr({ useRecords: false, structuredClone: false, bundleStrings: false, moreTypes: false })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false })

/**
 * A frame or envelope that breaks the wire format. `code` says which rule;
 * the link that sent it is closed with the matching close code.
 */
export class WireError extends MakoError {
  /** @param message What is wrong. @param code A `MAKO_*` code. @param cause The decoder's error, if any. */
  constructor (message: string, code: string, cause?: unknown) {
    super(message, code, cause === undefined ? {} : { cause })
    this.name = 'WireError'
  }
}

/**
 * Encodes one envelope.
 *
 * @param envelope The envelope; its payload must be something msgpackr encodes.
 * @returns A view that stays valid (msgpackr does not reuse returned bytes).
 * @throws MakoError `MAKO_ENCODE` if msgpackr cannot encode it.
 */
export function encodeEnvelope (envelope: Envelope): Uint8Array {
  try {
    return packr.pack(envelope)
  } catch (err) {
    throw new MakoError(`Cannot encode message: ${(err as Error)?.message ?? String(err)}`, TransportCodes.encode, { cause: err })
  }
}

/**
 * Decodes and checks one envelope that must fill `bytes` exactly (the
 * simulator's unit of delivery).
 *
 * @param bytes One encoded envelope.
 * @throws WireError on malformed input.
 */
export function decodeEnvelope (bytes: Uint8Array): Envelope {
  let value: unknown
  try {
    value = unpackr.unpack(bytes)
  } catch (err) {
    throw decodeFailure(err)
  }
  return validateEnvelope(value)
}

/**
 * Builds one frame from encoded envelopes: the version byte, then each
 * envelope's bytes. O(total bytes), one copy.
 *
 * @param parts Encoded envelopes, in order.
 * @param totalBytes The sum of their lengths.
 * @param version The wire version of the link.
 */
export function encodeFrame (parts: readonly Uint8Array[], totalBytes: number, version = wireVersion): Buffer {
  const frame = Buffer.allocUnsafe(totalBytes + 1)
  frame[0] = version
  let offset = 1
  for (const part of parts) {
    frame.set(part, offset)
    offset += part.length
  }
  return frame
}

/**
 * The version byte of a frame.
 *
 * @param frame A frame as received.
 * @throws WireError `MAKO_DECODE` for an empty frame.
 */
export function frameVersion (frame: Uint8Array): number {
  const version = frame[0]
  if (version === undefined) throw new WireError('Empty frame', TransportCodes.decode)
  return version
}

/**
 * Decodes and checks every envelope of one frame. Nothing is returned unless
 * the whole frame is valid: a bad value anywhere refuses it all.
 *
 * @param frame A frame as received, version byte included.
 * @param version The version the frame must carry.
 * @param maxMessages Most envelopes accepted in one frame.
 * @throws WireError `MAKO_DECODE`, `MAKO_VERSION`, `MAKO_LIMIT`,
 *   `MAKO_BAD_MESSAGE` or `MAKO_UNKNOWN_TYPE`.
 */
export function decodeFrame (frame: Uint8Array, version: number, maxMessages: number): Envelope[] {
  const got = frameVersion(frame)
  if (got !== version) throw new WireError(`Frame of wire version ${got}, expected ${version}`, TransportCodes.version)
  if (frame.length < 2) throw new WireError('Frame holds no message', TransportCodes.decode)
  const out: Envelope[] = []
  let tooMany = false
  try {
    unpackr.unpackMultiple(frame.subarray(1), (value: unknown) => {
      if (out.length >= maxMessages) {
        tooMany = true
        return false
      }
      out.push(validateEnvelope(value))
      return undefined
    })
  } catch (err) {
    if (err instanceof WireError) throw err
    throw decodeFailure(err)
  }
  if (tooMany) throw new WireError(`More than ${maxMessages} messages in one frame`, TransportCodes.limit)
  return out
}

function decodeFailure (err: unknown): WireError {
  const incomplete = typeof err === 'object' && err !== null && (err as { incomplete?: boolean }).incomplete === true
  const detail = err instanceof Error ? err.message.slice(0, 120) : String(err).slice(0, 120)
  return new WireError(incomplete ? 'Truncated msgpack value' : `Malformed msgpack: ${detail}`, TransportCodes.decode, err)
}

function bad (what: string): WireError {
  return new WireError(what, TransportCodes.badMessage)
}

function isRequestId (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isBytes (value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length
}

function checkLength (value: readonly unknown[], length: number, name: string): void {
  if (value.length !== length) throw bad(`${name} envelope has ${value.length} fields, expected ${length}`)
}

function checkLimits (value: unknown): WireLimits {
  if (!Array.isArray(value) || value.length !== 2) throw bad('Limits must be [maxPayload, maxInFlight]')
  const [maxPayload, maxInFlight] = value as unknown[]
  if (typeof maxPayload !== 'number' || !Number.isInteger(maxPayload) || maxPayload < 1024 || maxPayload > 2 ** 31) {
    throw bad('maxPayload out of range')
  }
  if (typeof maxInFlight !== 'number' || !Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 2 ** 24) {
    throw bad('maxInFlight out of range')
  }
  return value as unknown as WireLimits
}

/**
 * Checks that a decoded value is a well-formed envelope of version 1 and
 * returns it typed. O(1): payloads are not walked.
 *
 * @param value A value decoded from the wire.
 * @throws WireError `MAKO_BAD_MESSAGE` or `MAKO_UNKNOWN_TYPE`.
 */
export function validateEnvelope (value: unknown): Envelope {
  if (!Array.isArray(value) || value.length === 0) throw bad('A message must be a non-empty array')
  const fields = value as unknown[]
  const tag = fields[0]
  if (typeof tag !== 'number' || !Number.isInteger(tag)) throw bad('A message must start with an integer type tag')
  switch (tag) {
    case Tag.message:
      checkLength(fields, 2, 'message')
      break
    case Tag.request:
      checkLength(fields, 4, 'request')
      if (!isRequestId(fields[1])) throw bad('Bad request id')
      if (typeof fields[2] !== 'number' || !Number.isInteger(fields[2]) || fields[2] < 0 || fields[2] > maxRequestTimeout) {
        throw bad('Bad request timeout')
      }
      break
    case Tag.response:
      checkLength(fields, 3, 'response')
      if (!isRequestId(fields[1])) throw bad('Bad response id')
      break
    case Tag.error:
      checkLength(fields, 5, 'error')
      if (!isRequestId(fields[1])) throw bad('Bad error id')
      if (typeof fields[2] !== 'string' || !codePattern.test(fields[2])) throw bad('Bad error code')
      if (typeof fields[3] !== 'string' || fields[3].length > maxErrorMessageLength) throw bad('Bad error message')
      if (typeof fields[4] !== 'boolean') throw bad('Bad transient flag')
      break
    case Tag.cancel:
      checkLength(fields, 2, 'cancel')
      if (!isRequestId(fields[1])) throw bad('Bad cancel id')
      break
    case Tag.challenge:
      checkLength(fields, 6, 'challenge')
      if (typeof fields[1] !== 'number' || !Number.isInteger(fields[1]) || fields[1] < 0 || fields[1] > 255) throw bad('Bad minimum version')
      if (typeof fields[2] !== 'number' || !Number.isInteger(fields[2]) || fields[2] < fields[1] || fields[2] > 255) throw bad('Bad maximum version')
      if (!isValidId(fields[3])) throw bad('Bad cluster id')
      if (!isValidId(fields[4])) throw bad('Bad node id')
      if (!isBytes(fields[5], nonceLength)) throw bad('Bad nonce')
      break
    case Tag.hello:
      checkLength(fields, 7, 'hello')
      if (typeof fields[1] !== 'number' || !Number.isInteger(fields[1]) || fields[1] < 0 || fields[1] > 255) throw bad('Bad version')
      if (!isValidId(fields[2])) throw bad('Bad cluster id')
      if (!isValidId(fields[3])) throw bad('Bad node id')
      if (!isBytes(fields[4], nonceLength)) throw bad('Bad nonce')
      if (!isBytes(fields[5], nonceLength)) throw bad('Bad proof')
      checkLimits(fields[6])
      break
    case Tag.welcome:
      checkLength(fields, 3, 'welcome')
      if (!isBytes(fields[1], nonceLength)) throw bad('Bad proof')
      checkLimits(fields[2])
      break
    default:
      throw new WireError(`Unknown message type ${tag}`, TransportCodes.unknownType)
  }
  return fields as unknown as Envelope
}

/**
 * Encodes a value the way the handshake transcript needs it: deterministic
 * msgpack of plain strings, numbers and bytes.
 *
 * @param value Strings, numbers and byte arrays in an array.
 * @internal
 */
export function encodeTranscript (value: readonly unknown[]): Uint8Array {
  return packr.pack(value)
}
