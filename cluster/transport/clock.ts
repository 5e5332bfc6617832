/**
 * Time as the transport and protocol drivers see it. The real clock reads
 * `performance.now()` and uses Node timers; the simulator hands out a virtual
 * clock with the same interface, which is how the same driver code runs in
 * both.
 *
 * @module
 */

/** An opaque handle for a pending timer, from {@link Clock.setTimer}. */
export interface TimerHandle {
  /** Compile-time brand only: the handle is opaque. */
  readonly __brand: 'TimerHandle'
}

/** A monotonic clock with one-shot timers. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never goes backwards. */
  now(): number
  /**
   * Calls `callback` once, `delayMs` milliseconds from now (at least 0).
   * Timers due at the same time fire in the order they were set.
   *
   * @param delayMs Delay in milliseconds.
   * @param callback Called when the timer fires.
   */
  setTimer(delayMs: number, callback: () => void): TimerHandle
  /**
   * Cancels a timer; does nothing if it already fired or was cleared.
   *
   * @param handle What {@link Clock.setTimer} returned.
   */
  clearTimer(handle: TimerHandle): void
}

/** The process's real clock: `performance.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (delayMs, callback) => setTimeout(callback, Math.max(0, delayMs)) as unknown as TimerHandle,
  clearTimer: (handle) => { clearTimeout(handle as unknown as NodeJS.Timeout) }
}
