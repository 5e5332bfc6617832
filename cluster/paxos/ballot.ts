/**
 * Ballots: `(round, node)` pairs, totally ordered by round and then by node
 * id, so two proposers never share one. A ballot is also a leader's epoch:
 * everything a leader proposes carries its ballot, and a replica that has
 * promised a higher one refuses it.
 *
 * @module
 */

/** A ballot: `[round, node id]`. The zero ballot `[0, '']` is below every real one. */
export type Ballot = readonly [round: number, node: string]

/** The ballot below every real ballot. */
export const zeroBallot: Ballot = Object.freeze([0, '']) as Ballot

/**
 * Compares two ballots: negative, zero or positive as `a` is below, equal
 * to or above `b`. O(length of the node ids).
 *
 * @param a A ballot.
 * @param b Another ballot.
 */
export function compareBallots (a: Ballot, b: Ballot): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1
  if (a[1] === b[1]) return 0
  return a[1] < b[1] ? -1 : 1
}

/**
 * Whether two ballots are the same.
 *
 * @param a A ballot.
 * @param b Another ballot.
 */
export function sameBallot (a: Ballot, b: Ballot): boolean {
  return a[0] === b[0] && a[1] === b[1]
}

/**
 * The larger of two ballots.
 *
 * @param a A ballot.
 * @param b Another ballot.
 */
export function maxBallot (a: Ballot, b: Ballot): Ballot {
  return compareBallots(a, b) >= 0 ? a : b
}

/**
 * A ballot as text, `round.node`, for traces and errors.
 *
 * @param b A ballot.
 */
export function ballotString (b: Ballot): string {
  return `${b[0]}.${b[1]}`
}

/**
 * Whether a decoded value is a well-formed ballot.
 *
 * @param value Anything.
 */
export function isBallot (value: unknown): value is Ballot {
  return Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && (value[0] as number) >= 0 &&
    typeof value[1] === 'string' && (value[1] as string).length <= 256
}
