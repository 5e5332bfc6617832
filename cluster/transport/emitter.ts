/**
 * A small typed event list. Unlike Node's EventEmitter it has no special
 * `'error'` event that crashes the process when nobody listens, and a
 * listener that throws cannot break the transport code that emitted.
 *
 * @module
 * @internal
 */

/** @internal */
export type Listener = (...args: never[]) => void

/**
 * Listeners by event name.
 *
 * @internal
 */
export class Listeners<Events extends { [K in keyof Events]: Listener }> {
  readonly #byEvent = new Map<keyof Events, Set<Listener>>()

  /**
   * Adds a listener; returns a function that removes it.
   *
   * @param event The event.
   * @param listener The listener.
   */
  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
    let set = this.#byEvent.get(event)
    if (set === undefined) {
      set = new Set()
      this.#byEvent.set(event, set)
    }
    set.add(listener)
    return () => { set.delete(listener) }
  }

  /**
   * Calls every listener of `event` in the order they were added. Returns the
   * exceptions listeners threw, for the caller to report.
   *
   * @param event The event.
   * @param args Its arguments.
   */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): unknown[] {
    const set = this.#byEvent.get(event)
    if (set === undefined || set.size === 0) return []
    const errors: unknown[] = []
    for (const listener of [...set]) {
      try {
        (listener as (...a: Parameters<Events[E]>) => void)(...args)
      } catch (err) {
        errors.push(err)
      }
    }
    return errors
  }
}
