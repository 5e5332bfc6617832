// The adapter must forward failures, or the compliance run proves nothing:
// run deliberately failing tape-style tests and a deliberately broken
// database in child processes and check tap reports them as failures.
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const fixture = fileURLToPath(new URL('./fixtures/adapter-cases.js', import.meta.url))

interface Run { code: number | null, stdout: string }

function run (mode: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Without TAP_* variables from the parent runner the child prints plain TAP.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP')))
    const child = spawn(process.execPath, [fixture, mode], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.resume()
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 60_000)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout }) })
  })
}

/** Top-level results of the child's TAP output: name -> passed. */
function topLevel (stdout: string): Map<string, boolean> {
  const results = new Map<string, boolean>()
  for (const line of stdout.split('\n')) {
    const m = /^(not ok|ok) \d+ - (.*?)(?: # time=.*)?$/.exec(line)
    if (m?.[1] !== undefined && m[2] !== undefined) results.set(m[2], m[1] === 'ok')
  }
  return results
}

t.test('tape-style cases pass or fail as tape would decide', async (t) => {
  const { code, stdout } = await run('cases')
  const results = topLevel(stdout)
  t.equal(code, 1, 'the child run fails as a whole')
  const names = [...results.keys()]
  t.ok(names.filter((n) => n.startsWith('pass: ')).length >= 5, 'passing cases ran')
  t.ok(names.filter((n) => n.startsWith('fail: ')).length >= 20, 'failing cases ran')
  for (const [name, passed] of results) {
    if (name.startsWith('pass: ')) t.equal(passed, true, name)
    else if (name.startsWith('fail: ')) t.equal(passed, false, name)
  }
  t.equal(results.get('test assertion after Promise resolution'), false, 'a late assertion fails the run')
  t.match(stdout, /test: late: assertion after the test finished/, 'and names the test it came from')
})

t.test('a database whose get() returns a wrong value fails the suite', async (t) => {
  const { code, stdout } = await run('broken-db')
  t.equal(code, 1, 'exit code 1')
  t.equal(topLevel(stdout).get('wrong get'), false, 'the suite sub-test fails')
  t.match(stdout, /not ok \d+ - simple get\(\)/, 'the failing test is named')
  t.match(stdout, /wrong get: \d+ tape tests, \d+ assertions, [1-9]\d* failed/, 'failures are counted')
})

t.test('the same suite files pass on memory-level (control)', async (t) => {
  const { code, stdout } = await run('good-db')
  t.equal(code, 0, 'exit code 0')
  t.equal(topLevel(stdout).get('correct get'), true, 'the suite sub-test passes')
  t.match(stdout, /correct get: \d+ tape tests, \d+ assertions, 0 failed/)
})
