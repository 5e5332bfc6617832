/**
 * Reconnect delays: exponential backoff with jitter, so that peers that lost
 * a node at the same moment do not all dial it again at the same moment.
 *
 * @module
 */

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry):
 * `min(maxDelay, baseDelay * 2^attempt)`, of which a random half is kept
 * ("equal jitter": never zero, never more than the cap).
 *
 * @param attempt Failed attempts so far, from 0.
 * @param baseDelay The first delay's cap in milliseconds.
 * @param maxDelay The largest cap in milliseconds.
 * @param random A source of numbers in [0, 1).
 */
export function reconnectDelay (attempt: number, baseDelay: number, maxDelay: number, random: () => number): number {
  const cap = Math.min(maxDelay, baseDelay * 2 ** Math.min(attempt, 30))
  return cap / 2 + random() * (cap / 2)
}
