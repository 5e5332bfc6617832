/**
 * Operational errors: bad input, an unavailable peer, a full disk. Each
 * carries a stable `code` (`LEVEL_*` where abstract-level defines one,
 * `MAKO_*` otherwise), a message for people, an optional `cause`, and
 * `transient: true` where retrying the same call may succeed.
 *
 * A broken invariant is not an operational error: it is a bug, and
 * {@link assert} throws an {@link AssertionError} for it.
 *
 * @module
 */

/** Options accepted by {@link MakoError}. */
export interface MakoErrorOptions {
  /** The error that led to this one. */
  cause?: unknown
  /** True where a retry of the same operation may succeed. */
  transient?: boolean
}

/**
 * An operational error with a stable code.
 *
 * @example
 * ```ts
 * try { await tx.commit() } catch (err) {
 *   if (err instanceof MakoError && err.transient) retry()
 * }
 * ```
 */
export class MakoError extends Error {
  /** A stable, machine-readable code such as `MAKO_CORRUPTION`. */
  readonly code: string
  /** True where a retry of the same operation may succeed. */
  readonly transient: boolean

  /**
   * @param message What went wrong, for people.
   * @param code A stable, machine-readable code.
   * @param options The cause, and whether a retry may succeed.
   */
  constructor (message: string, code: string, options: MakoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'MakoError'
    this.code = code
    this.transient = options.transient ?? false
  }
}

/** Thrown by {@link assert}: an invariant of this code does not hold. */
export class AssertionError extends Error {
  /** Always `MAKO_ASSERTION`. */
  readonly code = 'MAKO_ASSERTION'

  /** @param message The invariant that failed. */
  constructor (message: string) {
    super(message)
    this.name = 'AssertionError'
  }
}

/**
 * Checks an invariant of this code. A failure is a bug, never bad input:
 * callers must validate input before it reaches an assertion.
 *
 * @param condition What must hold.
 * @param message Names the invariant, for the bug report.
 */
export function assert (condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message)
}
