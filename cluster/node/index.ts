/**
 * Running a cluster: the configuration file ({@link loadConfig}), a node
 * process's part of the cluster ({@link ClusterNode}), and a client's
 * connection to it ({@link connectClient}). `mako serve` is the command
 * line over these.
 *
 * @module
 */

export { ConfigError, configNode, loadConfig, maxBoundaryBytes, maxConfigBytes, maxConfigNodes, maxConfigShards, maxDelayMs, maxIntervalMs, parseConfig } from './config.js'
export type { ClusterConfig, CommitMode, NodeConfig, ShardEntry } from './config.js'
export { ClusterNode, clusterLinkLimits, defaultDrainMs, defaultNodeTickMs, nodeMaxInflightSlots } from './node.js'
export type { ClusterNodeEvents, ClusterNodeOptions, ClusterNodeStatus } from './node.js'
export { connectClient } from './connect.js'
export type { ClusterConnection, ConnectOptions, RemoteNodeStatus } from './connect.js'
export { connectRemote, defaultClusterId, describeCluster } from './remote.js'
export type { RemoteConnection, RemoteOptions } from './remote.js'
export { defaultLocalStartMs, defaultLocalStopMs, localConfigFile, localShards, maxLocalNodes, maxLocalShards, startLocalCluster } from './local.js'
export type { LocalCluster, LocalClusterOptions, LocalLeader, LocalLine } from './local.js'
