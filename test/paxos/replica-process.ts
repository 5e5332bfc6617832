/**
 * A shard replica as its own process, for the real-process tests and the
 * replication benchmark. Its configuration is one JSON argument:
 * `{ id, port, peers: { id: url }, dir, sync, tickMs, electionTicks, leaseTicks, secret, cluster }`.
 * It prints `ready <url>` once listening, and runs until killed (SIGTERM
 * closes it cleanly; the tests use SIGKILL).
 *
 * @module
 * @internal
 */

import { WsTransport } from '../../cluster/transport/index.js'
import { PaxosNode, PaxosStorage } from '../../cluster/paxos/index.js'

interface Config {
  id: string
  port: number
  peers: Record<string, string>
  dir: string
  sync: boolean
  tickMs?: number
  electionTicks?: number
  leaseTicks?: number
  secret: string
  cluster: string
  snapshotEvery?: number
}

async function main (): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as Config
  const transport = new WsTransport({
    nodeId: cfg.id,
    clusterId: cfg.cluster,
    secret: cfg.secret,
    limits: { reconnectBaseDelay: 20, reconnectMaxDelay: 200 }
  })
  const url = await transport.listen({ port: cfg.port, host: '127.0.0.1' })
  for (const [peer, peerUrl] of Object.entries(cfg.peers)) if (peer !== cfg.id) transport.connect(peer, peerUrl)
  const storage = await PaxosStorage.open(cfg.dir, { sync: cfg.sync })
  const replica: NonNullable<Parameters<typeof PaxosNode.start>[0]['replica']> = {}
  if (cfg.electionTicks !== undefined) replica.electionTicks = cfg.electionTicks
  if (cfg.leaseTicks !== undefined) replica.leaseTicks = cfg.leaseTicks
  const node = PaxosNode.start({
    transport,
    members: Object.keys(cfg.peers).sort(),
    storage,
    tickMs: cfg.tickMs ?? 10,
    replica,
    ...(cfg.snapshotEvery !== undefined ? { snapshotEvery: cfg.snapshotEvery } : {})
  })
  node.on('event', (ev: { e: string }) => {
    if (ev.e === 'leader' || ev.e === 'serving' || ev.e === 'recovered') process.stdout.write(`event ${JSON.stringify(ev)}\n`)
  })
  node.on('error', (err: Error) => { process.stderr.write(`replica failed: ${err.message}\n`); process.exit(2) })
  process.on('SIGTERM', () => {
    void node.close().then(async () => { await transport.close() }).finally(() => process.exit(0))
  })
  process.stdout.write(`ready ${url}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`)
  process.exit(1)
})
