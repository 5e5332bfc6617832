/**
 * Peer authentication: HMAC-SHA256 challenge-response over a shared cluster
 * secret. The secret never crosses the wire; each side proves it knows it by
 * keying an HMAC over a transcript that names both nodes, the cluster, the
 * version and both fresh nonces. A proof cannot be replayed (the other side's
 * nonce is fresh), reflected (each role has its own label) or moved to
 * another node id (the ids are in the transcript).
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { MakoError } from '../../lib/errors.js'
import { encodeTranscript, nonceLength } from './codec.js'
import { TransportCodes } from './codes.js'
import type { ClusterId, NodeId } from './ids.js'

/** Shortest cluster secret accepted, in bytes. */
export const minSecretLength = 16

/** What both proofs of one handshake cover. */
export interface Transcript {
  /** The wire version chosen by the client. */
  version: number
  /** The cluster both sides claim. */
  cluster: ClusterId
  /** The dialing node. */
  client: NodeId
  /** The node that accepted. */
  server: NodeId
  /** The server's fresh nonce, from the challenge. */
  serverNonce: Uint8Array
  /** The client's fresh nonce, from the hello. */
  clientNonce: Uint8Array
}

/**
 * Checks a secret and returns it as bytes.
 *
 * @param secret The shared cluster secret.
 * @throws MakoError `MAKO_INVALID_CONFIG` if shorter than {@link minSecretLength} bytes.
 */
export function secretBytes (secret: string | Uint8Array): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret)
  if (bytes.length < minSecretLength) {
    throw new MakoError(`The cluster secret must be at least ${minSecretLength} bytes`, TransportCodes.invalidConfig)
  }
  return bytes
}

/** A fresh random nonce of {@link nonceLength} bytes. */
export function newNonce (): Buffer {
  return randomBytes(nonceLength)
}

/**
 * The proof one role sends.
 *
 * @param secret The cluster secret.
 * @param role `'client'` for the hello, `'server'` for the welcome.
 * @param transcript What the proof covers.
 */
export function proof (secret: Uint8Array, role: 'client' | 'server', transcript: Transcript): Buffer {
  const body = encodeTranscript([
    'mako-link-proof', role, transcript.version, transcript.cluster, transcript.client, transcript.server,
    transcript.serverNonce, transcript.clientNonce
  ])
  return createHmac('sha256', secret).update(body).digest()
}

/**
 * Whether `received` is the proof `role` must send, compared in constant time.
 *
 * @param secret The cluster secret.
 * @param role Whose proof it is.
 * @param transcript What it must cover.
 * @param received The proof from the wire.
 */
export function verifyProof (secret: Uint8Array, role: 'client' | 'server', transcript: Transcript, received: Uint8Array): boolean {
  const expected = proof(secret, role, transcript)
  return received.length === expected.length && timingSafeEqual(expected, received)
}
