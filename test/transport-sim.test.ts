// The transport acceptance suite against the simulator's transport.
import t from 'tap'
import { runTransportTests } from './transport/acceptance.js'
import { simFactory } from './transport/harness.js'
import { replayHint, testSeed } from './transport/seed.js'

const seed = testSeed()
t.comment(replayHint(seed, 'transport-sim.test.js'))
runTransportTests(t, simFactory(seed))
