/**
 * Multi-Paxos replication for one shard: the pure {@link Replica}, its
 * durable {@link PaxosStorage}, the {@link PaxosNode} driver that binds them
 * to a transport and timers with the replicated {@link KvStateMachine}, and
 * the {@link PaxosClient}.
 *
 * @module
 */

export { Replica, defaultReplicaOptions } from './replica.js'
export type { ReplicaOptions, ReplicaStatus, Role } from './replica.js'
export { ballotString, compareBallots, isBallot, maxBallot, sameBallot, zeroBallot } from './ballot.js'
export type { Ballot } from './ballot.js'
export { paxosWireVersion } from './types.js'
export type {
  AcceptMsg, AcceptedEntry, AcceptedMsg, Command, CommittedEntry, DurableState, EntriesMsg, FetchMsg, HeartbeatAckMsg,
  HeartbeatMsg, Outbound, PaxosMessage, PersistRecord, PrepareMsg, PromiseMsg, ReadConfirmed, Ready, RecoverInfoMsg,
  RecoverQueryMsg, Recovery, Refusal, ReplicaEvent, SlotValue, SnapshotMsg, Value, SnapshotData, AcceptedSlot
} from './types.js'
export { applyRecord, emptyDurableState, foldRecords } from './durable.js'
export { decodeRecord, encodeRecord, isValue, maxIdChars, maxMessageEntries, maxSlotCommands, validateMessage } from './codec.js'
export { KvStateMachine, isKvOp, kvCommandBytes, kvSessionWindow, maxKvSessions } from './kv.js'
export type { KvOp, KvResult } from './kv.js'
export { PaxosStorage } from './storage.js'
export type { PaxosStorageOptions, PaxosStorageStats, ReplicaStorage } from './storage.js'
export { PaxosNode } from './driver.js'
export type { PaxosNodeOptions, PaxosNodeStatus, PaxosRequest, PaxosResponse, StateMachine } from './driver.js'
export { PaxosClient } from './client.js'
export type { PaxosClientOptions } from './client.js'
