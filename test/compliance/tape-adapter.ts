/**
 * Runs abstract-level's shipped compliance suite (written for tape) under
 * tap 21.
 *
 * The suite registers thousands of tape-style tests with `test(name, fn)`.
 * Each becomes one tap sub-test here, and the `t` the suite sees is a small
 * object with tape's assertion names and tape's rules for when a test ends:
 * at `t.end()`, when `t.plan(n)` is met, or when the returned promise
 * settles. Every assertion is forwarded to tap, so a failure in the suite is
 * a failure in tap; the adapter adds failures of its own for what tape would
 * report (plan mismatch, `.end()` twice, assertion after end) and for tests
 * that never end (a timeout, since tape would hang).
 *
 * Nothing here knows which database runs: the caller passes a factory.
 *
 * @module
 * @internal
 */

import { createRequire } from 'node:module'
import { isDeepStrictEqual } from 'node:util'

/**
 * The part of a tap 21 `Test` this adapter uses. Declared structurally so the
 * adapter does not depend on tap's plugin-generated types. tap's `t` has
 * these methods, but its overloads do not type-check against this interface:
 * pass it as `t as unknown as TapTest`.
 *
 * @internal
 */
export interface TapTest {
  /**
   * Start a sub-test; tap ends it when the returned promise settles. Resolves
   * when the sub-test has finished.
   */
  test: (name: string, fn: (t: TapTest) => Promise<void>) => PromiseLike<unknown>
  /** `===` comparison. */
  equal: (found: unknown, wanted: unknown, message?: string, extra?: object) => boolean
  /** `!==` comparison. */
  not: (found: unknown, notWanted: unknown, message?: string, extra?: object) => boolean
  /** Deep, type-strict comparison. */
  strictSame: (found: unknown, wanted: unknown, message?: string, extra?: object) => boolean
  /** Deep, type-strict inequality. */
  strictNotSame: (found: unknown, notWanted: unknown, message?: string, extra?: object) => boolean
  /** Truthy. */
  ok: (value: unknown, message?: string, extra?: object) => boolean
  /** Falsy. */
  notOk: (value: unknown, message?: string, extra?: object) => boolean
  /** An assertion that passes. */
  pass: (message?: string, extra?: object) => boolean
  /** An assertion that fails. */
  fail: (message?: string, extra?: object) => boolean
  /** Fails if `err` is truthy. */
  error: (err: unknown, message?: string, extra?: object) => boolean
  /** A `#` comment line in the TAP output. */
  comment: (...args: unknown[]) => void
}

/**
 * The tape-style assertion object that the compliance suite receives as `t`.
 *
 * @internal
 */
export interface TapeTest {
  /** Strict equality (`Object.is`-like: NaN equals NaN). */
  is: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Alias of {@link TapeTest.is}. */
  equal: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Alias of {@link TapeTest.is}. */
  strictEqual: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Strict inequality. */
  isNot: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Alias of {@link TapeTest.isNot}. */
  notEqual: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Deep strict equality (tape's `same` is strict). */
  same: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Alias of {@link TapeTest.same}. */
  deepEqual: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Deep strict inequality. */
  notSame: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Alias of {@link TapeTest.notSame}. */
  notDeepEqual: (actual: unknown, expected: unknown, message?: string, extra?: unknown) => void
  /** Truthy. */
  ok: (value: unknown, message?: string, extra?: unknown) => void
  /** Falsy. */
  notOk: (value: unknown, message?: string, extra?: unknown) => void
  /** A passing assertion. */
  pass: (message?: string) => void
  /** A failing assertion. */
  fail: (message?: string) => void
  /** Fails if `err` is truthy. */
  error: (err: unknown, message?: string) => void
  /** Alias of {@link TapeTest.error}. */
  ifError: (err: unknown, message?: string) => void
  /** Fails unless `fn` throws an error matching `expected`. */
  throws: (fn: () => unknown, expected?: unknown, message?: string) => void
  /** Fails if `fn` throws. */
  doesNotThrow: (fn: () => unknown, expected?: unknown, message?: string) => void
  /** Expect exactly `n` assertions; the test ends when they are made. */
  plan: (n: number) => void
  /** End the test. */
  end: (err?: unknown) => void
  /** A comment line. */
  comment: (message: string) => void
  /** Run `fn` after the test ends. */
  teardown: (fn: () => unknown) => void
  /** Fail and end the test if it has not ended within `ms`. */
  timeoutAfter: (ms: number) => void
  /** A nested tape test. */
  test: (name: string, fn: TapeTestFn) => void
}

/** A tape-style test body. @internal */
export type TapeTestFn = (t: TapeTest) => unknown

/**
 * A tape-style `test` function, the `test` option of the suite.
 *
 * @internal
 */
export interface TapeHarness {
  (name: string, fn: TapeTestFn): void
  (name: string, opts: object, fn: TapeTestFn): void
  /** tape's `test.only`: run like `test` (tap has its own filter). */
  only: (name: string, fn: TapeTestFn) => void
  /** tape's `test.skip`: recorded as a skipped tap test. */
  skip: (name: string, fn?: TapeTestFn) => void
}

/** Counters of what the adapter saw, for the report line. @internal */
export interface TapeStats {
  /** tape-style tests run (nested ones included). */
  tests: number
  /** Assertions made by those tests, the adapter's own failures included. */
  assertions: number
  /** Failed assertions among them. */
  failures: number
}

/** Options of the adapter. @internal */
export interface TapeAdapterOptions {
  /**
   * How long one tape-style test may run before it fails as hung, in ms.
   * tape has no limit (a test that never ends hangs the run); we bound it.
   */
  maxTestDurationMs?: number
  /** Counters to add to; a fresh object by default. */
  stats?: TapeStats
}

/** Default of {@link TapeAdapterOptions.maxTestDurationMs}. @internal */
export const DEFAULT_MAX_TEST_DURATION_MS = 30_000

/**
 * Make a tape-style `test` function whose tests run as tap sub-tests of
 * `parent`, in registration order.
 *
 * @internal
 */
export function createTapeHarness (parent: TapTest, options: TapeAdapterOptions = {}): TapeHarness & { stats: TapeStats } {
  const stats = options.stats ?? { tests: 0, assertions: 0, failures: 0 }
  const maxMs = options.maxTestDurationMs ?? DEFAULT_MAX_TEST_DURATION_MS

  const register = (name: string, fn: TapeTestFn): void => {
    void parent.test(name, (tt) => runTapeTest(tt, fn, maxMs, stats))
  }

  const harness = function (name: string, optsOrFn: object | TapeTestFn, maybeFn?: TapeTestFn): void {
    const fn = typeof optsOrFn === 'function' ? optsOrFn as TapeTestFn : maybeFn
    if (typeof fn !== 'function') throw new TypeError(`test '${name}' has no function`)
    const opts = typeof optsOrFn === 'function' ? {} : optsOrFn as { skip?: unknown }
    if (opts.skip === true) {
      void parent.test(name, async (tt) => { tt.comment('SKIP (tape option)') })
      return
    }
    register(name, fn)
  } as TapeHarness & { stats: TapeStats }

  harness.only = register
  harness.skip = (name: string) => { void parent.test(name, async (tt) => { tt.comment('SKIP (test.skip)') }) }
  harness.stats = stats
  return harness
}

/**
 * tape's deep equality for `same`: strict, and without tap's extra rules.
 * Node's `isDeepStrictEqual` matches tape's `deep-equal` in strict mode for
 * the values the suite compares (Buffers, arrays, plain objects, errors'
 * own properties are not compared by either).
 */
function sameStrict (a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b)
}

/** Message text for an assertion: tape allows a 4th argument; tap would read it as options, so it is dropped. */
function msg (message: unknown, fallback: string): string {
  return typeof message === 'string' ? message : fallback
}

/**
 * Run one tape-style test inside one tap sub-test `tt`. Resolves when the
 * tape-style test has ended and its returned promise (if any) has settled,
 * or when it timed out.
 */
function runTapeTest (tt: TapTest, fn: TapeTestFn, maxMs: number, stats: TapeStats): Promise<void> {
  stats.tests++
  return new Promise<void>((resolve) => {
    let count = 0
    let plan: number | undefined
    let ended = false
    let endCalled = false
    let fnSettled = false
    let finished = false
    let timer: NodeJS.Timeout | undefined
    const teardowns: Array<() => unknown> = []
    const children: Array<Promise<unknown>> = []

    // Every assertion, ours included, goes through here: it counts against the
    // plan, and an assertion after the end is itself a failure, as in tape.
    const record = (passed: boolean, forward: () => void): void => {
      stats.assertions++
      if (finished) {
        // Too late to belong to this test, whatever it says: tap reports an
        // assertion on a finished sub-test as a failure of the parent ("test
        // assertion after Promise resolution", naming this test).
        stats.failures++
        forward()
        return
      }
      if (!passed) stats.failures++
      count++
      forward()
      if (plan !== undefined && count > plan) {
        fail(`plan != count (planned ${plan}, made ${count})`)
      } else if (ended && plan === undefined) {
        fail('assertion after end')
      }
      if (plan !== undefined && count === plan && !ended) end()
    }

    const fail = (message: string, extra?: object): void => {
      stats.assertions++
      stats.failures++
      tt.fail(message, extra)
    }

    const maybeFinish = (): void => {
      if (finished || !ended || !fnSettled) return
      finish()
    }

    const finish = (): void => {
      if (finished) return
      finished = true
      if (timer !== undefined) clearTimeout(timer)
      const runTeardowns = async (): Promise<void> => {
        await Promise.allSettled(children)
        for (const td of teardowns) {
          try {
            await td()
          } catch (err) {
            stats.assertions++
            stats.failures++
            tt.error(err, 'teardown failed')
          }
        }
      }
      runTeardowns().then(() => resolve(), () => resolve())
    }

    const end = (): void => {
      if (ended) return
      ended = true
      if (plan !== undefined && count !== plan) {
        fail(`plan != count (planned ${plan}, made ${count})`)
      }
      maybeFinish()
    }

    const armTimer = (ms: number): void => {
      if (timer !== undefined) clearTimeout(timer)
      timer = setTimeout(() => {
        if (finished) return
        fail(`test did not end within ${ms} ms (assertions ${count}${plan === undefined ? '' : ` of ${plan} planned`}, ended ${String(ended)}, body settled ${String(fnSettled)})`)
        finish()
      }, ms)
    }

    const is = (a: unknown, b: unknown, message?: string): void => {
      // tape compares with Object.is for is/equal; tap's equal is ===. Both
      // agree except for NaN (equal to itself here) and -0 (not equal to 0).
      const passed = Object.is(a, b)
      record(passed, () => {
        if (passed) tt.pass(msg(message, 'should be equal'))
        else tt.equal(a, b, msg(message, 'should be equal'))
      })
    }
    const isNot = (a: unknown, b: unknown, message?: string): void => {
      const passed = !Object.is(a, b)
      record(passed, () => {
        if (passed) tt.pass(msg(message, 'should not be equal'))
        else tt.not(a, b, msg(message, 'should not be equal'))
      })
    }
    const same = (a: unknown, b: unknown, message?: string): void => {
      const passed = sameStrict(a, b)
      record(passed, () => {
        if (passed) tt.pass(msg(message, 'should be equivalent'))
        else tt.strictSame(a, b, msg(message, 'should be equivalent'))
      })
    }
    const notSame = (a: unknown, b: unknown, message?: string): void => {
      const passed = !sameStrict(a, b)
      record(passed, () => {
        if (passed) tt.pass(msg(message, 'should not be equivalent'))
        else tt.fail(msg(message, 'should not be equivalent'), { found: a, doNotWant: b })
      })
    }
    const ifError = (err: unknown, message?: string): void => {
      record(!err, () => { tt.error(err, msg(message, String(err))) })
    }

    const t: TapeTest = {
      is,
      equal: is,
      strictEqual: is,
      isNot,
      notEqual: isNot,
      same,
      deepEqual: same,
      notSame,
      notDeepEqual: notSame,
      ok: (value, message) => {
        record(!!value, () => { tt.ok(value, msg(message, 'should be truthy')) })
      },
      notOk: (value, message) => {
        record(!value, () => { tt.notOk(value, msg(message, 'should be falsy')) })
      },
      pass: (message) => { record(true, () => { tt.pass(msg(message, '(unnamed assert)')) }) },
      fail: (message) => { record(false, () => { tt.fail(msg(message, '(unnamed assert)')) }) },
      error: ifError,
      ifError,
      throws: (fn, expected, message) => {
        // tape: `expected` may be a RegExp (tested on the message), an Error
        // class (instanceof), or a predicate (arrow functions have no
        // prototype) returning true; a string in its place is the message.
        if (typeof expected === 'string' && message === undefined) {
          message = expected
          expected = undefined
        }
        let thrown = false
        let caught: unknown
        try {
          fn()
        } catch (err) {
          thrown = true
          caught = err
        }
        let passed = thrown
        if (thrown && expected !== undefined) {
          if (expected instanceof RegExp) {
            passed = expected.test(caught instanceof Error ? caught.message : String(caught))
          } else if (typeof expected === 'function') {
            const proto = (expected as { prototype?: unknown }).prototype
            if (proto !== undefined && caught instanceof (expected as new () => unknown)) {
              passed = true
            } else {
              passed = (expected as (e: unknown) => unknown)(caught) === true
            }
          } else if (typeof expected === 'object' && expected !== null) {
            // Every own property of `expected` must equal the error's.
            passed = Object.entries(expected).every(([k, v]) =>
              sameStrict((caught as Record<string, unknown> | null)?.[k], v))
          }
        }
        const text = msg(message, 'should throw')
        record(passed, () => {
          if (passed) tt.pass(text)
          else tt.fail(text, thrown ? { found: caught, wanted: expected } : { found: 'no error thrown' })
        })
      },
      doesNotThrow: (fn, expected, message) => {
        if (typeof expected === 'string') message = expected
        let caught: unknown
        let thrown = false
        try {
          fn()
        } catch (err) {
          thrown = true
          caught = err
        }
        const text = msg(message, 'should not throw')
        record(!thrown, () => {
          if (!thrown) tt.pass(text)
          else tt.fail(text, { found: caught })
        })
      },
      plan: (n) => {
        if (plan !== undefined) {
          fail('plan() called twice')
          return
        }
        if (!Number.isInteger(n) || n < 0) {
          fail(`plan() needs a non-negative integer, got ${String(n)}`)
          return
        }
        plan = n
        if (count >= n) end()
      },
      end: (err) => {
        if (err !== undefined && err !== null) ifError(err)
        if (endCalled) {
          fail('.end() already called')
          return
        }
        endCalled = true
        end()
      },
      comment: (message) => { tt.comment(message) },
      teardown: (td) => { teardowns.push(td) },
      timeoutAfter: (ms) => { armTimer(ms) },
      test: (name, childFn) => {
        children.push(Promise.resolve(tt.test(name, (ct) => runTapeTest(ct, childFn, maxMs, stats))))
      }
    }

    armTimer(maxMs)

    let returned: unknown
    try {
      returned = fn(t)
    } catch (err) {
      // tape lets a synchronous throw escape as an uncaught exception; here it
      // fails the test that threw, which names the culprit.
      ifError(err instanceof Error ? err : new Error(String(err)), 'test function threw')
      fnSettled = true
      end()
      return
    }

    if (returned !== null && typeof returned === 'object' && typeof (returned as PromiseLike<unknown>).then === 'function') {
      Promise.resolve(returned as PromiseLike<unknown>).then(() => {
        fnSettled = true
        // As tape: a resolved async body ends the test unless it ended already;
        // with a plan not yet met that is a plan != count failure.
        if (!endCalled) end()
        maybeFinish()
      }, (err: unknown) => {
        fnSettled = true
        if (err instanceof Error) ifError(err, String(err))
        else t.fail(String(err))
        end()
        maybeFinish()
      })
    } else {
      fnSettled = true
      maybeFinish()
    }
  })
}

/**
 * A database factory as the suite calls it: a new, unopened database per call,
 * constructor options passed through.
 *
 * @internal
 */
export type DatabaseFactory = (options?: Record<string, unknown>) => unknown

interface SuiteModule {
  (options: { test: TapeHarness, factory: DatabaseFactory }): void
  common: (options: { test: TapeHarness, factory: DatabaseFactory }) => unknown
}

const require = createRequire(import.meta.url)

/**
 * Load the suite from the same abstract-level copy that databases extend:
 * resolution starts from this file, and the project has one copy.
 */
function loadSuite (): SuiteModule {
  return require('abstract-level/test/index.js') as SuiteModule
}

/**
 * Run abstract-level's whole compliance suite against `factory` as one tap
 * sub-test named `name` (the suite runs everything again on a sublevel).
 * Resolves with the adapter's counters once every test has ended; the sub-test
 * fails if any assertion did.
 *
 * @param tap The tap test to add the sub-test to (tap's `t`).
 * @param factory Returns a new database for the given constructor options.
 * @param name Name of the sub-test, e.g. `'memory-level (buffer)'`.
 *
 * @internal
 */
export async function runComplianceSuite (tap: TapTest, factory: DatabaseFactory, name: string, options: TapeAdapterOptions = {}): Promise<TapeStats> {
  return await runWith(tap, name, options, (test) => {
    loadSuite()({ test, factory })
  })
}

/**
 * Run some files of the suite (e.g. `['get-test']`) against `factory`: each
 * file's exported `all(test, testCommon)` (or the module itself where it is a
 * function). Used to check the adapter on a deliberately broken database.
 *
 * @internal
 */
export async function runComplianceFiles (tap: TapTest, factory: DatabaseFactory, name: string, files: readonly string[], options: TapeAdapterOptions = {}): Promise<TapeStats> {
  return await runWith(tap, name, options, (test) => {
    const common = loadSuite().common({ test, factory })
    for (const file of files) {
      if (!/^[a-z0-9/-]+$/.test(file)) throw new TypeError(`bad suite file name '${file}'`)
      const mod = require(`abstract-level/test/${file}.js`) as
        ((test: TapeHarness, common: unknown) => void) | { all: (test: TapeHarness, common: unknown) => void }
      if (typeof mod === 'function') mod(test, common)
      else mod.all(test, common)
    }
  })
}

async function runWith (tap: TapTest, name: string, options: TapeAdapterOptions, body: (test: TapeHarness) => void): Promise<TapeStats> {
  const stats: TapeStats = options.stats ?? { tests: 0, assertions: 0, failures: 0 }
  // tap runs the sub-tests queued by `body` after it returns, and the promise
  // of `tap.test` resolves once the last one has finished.
  await tap.test(name, async (tt) => {
    body(createTapeHarness(tt, { ...options, stats }))
    void tt.test('compliance counts', async (ct) => {
      ct.comment(`${name}: ${stats.tests} tape tests, ${stats.assertions} assertions, ${stats.failures} failed`)
      ct.equal(stats.failures, 0, 'no failed assertion in the suite')
    })
  })
  return stats
}
