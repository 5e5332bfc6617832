// The transport acceptance suite against the WebSocket transport, on loopback.
import t from 'tap'
import { runTransportTests } from './transport/acceptance.js'
import { wsFactory } from './transport/harness.js'

runTransportTests(t, wsFactory)
