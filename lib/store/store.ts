/**
 * The store: column families, sequence numbers, atomic batches and
 * snapshots, over one copy-on-write B+tree per family.
 *
 * Everything here is synchronous and does no I/O: a batch is applied whole
 * in one call, so no reader ever sees half of it, and the durability layer
 * decides when (after its log write) to call it. Families share one
 * sequence number, so one batch across families is one atomic step and one
 * snapshot covers them all.
 *
 * @module
 * @internal
 */

import { assert } from '../errors.js'
import { BTree, Cursor, KeyWords, compareEntry, type BTreeOptions, type Frozen } from '../btree/index.js'

/** Name of the family every store has. @internal */
export const DEFAULT_FAMILY = 'default'

/**
 * A column family: a named, separately ordered key space.
 * @internal
 */
export class Family {
  /** False once dropped: writes to it are refused from then on. */
  live = true
  constructor (
    /** Stable id, used in the log and checkpoints instead of the name. */
    readonly id: number,
    /** The user's name for it. */
    readonly name: string,
    /** Its entries. */
    public tree: BTree
  ) {}
}

/**
 * One operation of a batch. Creating or dropping a family is a batch of its
 * own: a batch that writes names only families that exist before it.
 * @internal
 */
export type BatchOp =
  | { readonly type: 'put', readonly family: Family, readonly key: Uint8Array, readonly value: Uint8Array }
  | { readonly type: 'del', readonly family: Family, readonly key: Uint8Array }
  | { readonly type: 'deleteRange', readonly family: Family, readonly gte: Uint8Array, readonly lt: Uint8Array }
  | { readonly type: 'clear', readonly family: Family }
  | { readonly type: 'createFamily', readonly id: number, readonly name: string }
  | { readonly type: 'dropFamily', readonly family: Family }

/**
 * A consistent view of every family at one sequence number. Holding it keeps
 * the tree nodes it needs alive; {@link StoreSnapshot.release} lets them go.
 * @internal
 */
export class StoreSnapshot {
  // null while lazy (see Store.lazySnapshot) and after release.
  private views: Map<Family, Frozen> | null
  private state: 'lazy' | 'frozen' | 'released'

  constructor (
    private readonly store: Store,
    /** The last sequence number the view includes. */
    readonly sequence: number,
    views: Map<Family, Frozen> | null
  ) {
    this.views = views
    this.state = views === null ? 'lazy' : 'frozen'
  }

  /** The frozen tree of `family` at this snapshot (empty if it was created later). */
  view (family: Family): Frozen {
    assert(this.state !== 'released', 'snapshot used after release')
    // A lazy snapshot is frozen before any change to the store, so until
    // then the live trees are exactly what it would have frozen.
    if (this.state === 'lazy') return family.live ? { root: family.tree.root, size: family.tree.size } : EMPTY
    return this.views!.get(family) ?? EMPTY
  }

  /** True until released. */
  get open (): boolean { return this.state !== 'released' }

  /** The families that existed when the snapshot was taken. */
  families (): Family[] {
    assert(this.state !== 'released', 'snapshot used after release')
    return this.state === 'lazy' ? this.store.families() : [...this.views!.keys()]
  }

  /** @internal Freezes a lazy snapshot: the store is about to change. */
  materialize (views: Map<Family, Frozen>): void {
    if (this.state === 'lazy') {
      this.views = views
      this.state = 'frozen'
    }
  }

  /** Drops the view, so the old versions only it held can be collected. */
  release (): void {
    if (this.state === 'released') return
    if (this.state === 'lazy') this.store.lazyReleased(this)
    this.state = 'released'
    this.views = null
    this.store.snapshotClosed()
  }
}

const EMPTY: Frozen = new BTree().freeze()

/**
 * Column families, a shared sequence and atomic batches.
 * @internal
 */
export class Store {
  /** Sequence number of the last applied batch. */
  sequence = 0
  private readonly byName = new Map<string, Family>()
  private readonly byId = new Map<number, Family>()
  // Lazy snapshots not yet frozen: every change to the store freezes them
  // first (see lazySnapshot).
  // (An array: usually empty or one long, where a Set's bookkeeping on
  // every add and delete cost more than the search.)
  private lazy: StoreSnapshot[] = []
  private nextFamilyId = 1
  private openSnapshots = 0
  /** The family named {@link DEFAULT_FAMILY}. */
  readonly defaultFamily: Family

  constructor (private readonly treeOptions: BTreeOptions = {}) {
    this.defaultFamily = new Family(0, DEFAULT_FAMILY, new BTree(treeOptions))
    this.byName.set(DEFAULT_FAMILY, this.defaultFamily)
    this.byId.set(0, this.defaultFamily)
  }

  /** The live family with id `id`, if any. */
  familyById (id: number): Family | undefined {
    return this.byId.get(id)
  }

  /** The live family called `name`, if any. */
  family (name: string): Family | undefined {
    return this.byName.get(name)
  }

  /** Every live family, the default first. */
  families (): Family[] {
    return [...this.byName.values()]
  }

  /** Number of snapshots not yet released. */
  get snapshotCount (): number { return this.openSnapshots }

  /**
   * Creates a family. `id` is given when replaying a log or checkpoint, so
   * ids stay stable across restarts; otherwise the next free id is used.
   */
  createFamily (name: string, id = this.nextFamilyId, tree = new BTree(this.treeOptions)): Family {
    this.beforeChange()
    assert(!this.byName.has(name), `family ${name} exists`)
    const family = new Family(id, name, tree)
    this.nextFamilyId = Math.max(this.nextFamilyId, id + 1)
    this.byName.set(name, family)
    this.byId.set(id, family)
    return family
  }

  /** Drops a family: its entries go when the last snapshot holding them does. */
  dropFamily (family: Family): void {
    this.beforeChange()
    assert(family !== this.defaultFamily, 'the default family cannot be dropped')
    assert(this.byName.get(family.name) === family, 'dropping a live family')
    family.live = false
    this.byName.delete(family.name)
    this.byId.delete(family.id)
  }

  /**
   * Takes the next family id for a family about to be created. Ids are
   * taken at once, not when the creation is applied, so two creations in
   * flight in the log never get the same id.
   */
  reserveFamilyId (): number {
    return this.nextFamilyId++
  }

  /**
   * Applies a batch atomically and returns its sequence number: `sequence`
   * when the log gave it one, else the next. The caller has checked that
   * every family is live: nothing here can fail half-way.
   */
  apply (ops: readonly BatchOp[], sequence = this.sequence + 1): number {
    this.beforeChange()
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!
      switch (op.type) {
        case 'put': op.family.tree.set(op.key, op.value); break
        case 'del': op.family.tree.delete(op.key); break
        case 'deleteRange': deleteRange(op.family.tree, op.gte, op.lt); break
        case 'clear': op.family.tree.clear(); break
        case 'createFamily': this.createFamily(op.name, op.id); break
        case 'dropFamily': this.dropFamily(op.family); break
      }
    }
    return this.advance(sequence)
  }

  /** One put as its own batch: the hot path of `db.put()`, with no batch array. */
  put (family: Family, key: Uint8Array, value: Uint8Array, sequence = this.sequence + 1): number {
    this.beforeChange()
    family.tree.set(key, value)
    return this.advance(sequence)
  }

  /** One delete as its own batch. */
  del (family: Family, key: Uint8Array, sequence = this.sequence + 1): number {
    this.beforeChange()
    family.tree.delete(key)
    return this.advance(sequence)
  }

  private advance (sequence: number): number {
    assert(sequence > this.sequence, 'sequence numbers only grow')
    this.sequence = sequence
    return sequence
  }

  /**
   * A snapshot of every family at the current sequence. O(families): each
   * tree is frozen, which is O(1).
   */
  snapshot (): StoreSnapshot {
    this.openSnapshots++
    return new StoreSnapshot(this, this.sequence, this.freezeAll())
  }

  /**
   * A snapshot that freezes the trees only if the store changes while it is
   * open: until then it reads the live trees, which hold exactly what it
   * would have frozen. A transaction that validates and releases its
   * snapshot before its own writes apply so costs no copy of the paths its
   * writes touch. O(1).
   */
  lazySnapshot (): StoreSnapshot {
    this.openSnapshots++
    const snapshot = new StoreSnapshot(this, this.sequence, null)
    this.lazy.push(snapshot)
    return snapshot
  }

  /** @internal Called by a lazy snapshot released before it was frozen. */
  lazyReleased (snapshot: StoreSnapshot): void {
    const lazy = this.lazy
    const i = lazy.lastIndexOf(snapshot)
    if (i === lazy.length - 1) lazy.pop()
    else if (i >= 0) lazy.splice(i, 1)
  }

  private freezeAll (): Map<Family, Frozen> {
    const views = new Map<Family, Frozen>()
    for (const family of this.byName.values()) views.set(family, family.tree.freeze())
    return views
  }

  // Every change to the store calls this first.
  private beforeChange (): void {
    if (this.lazy.length === 0) return
    const views = this.freezeAll()
    for (const snapshot of this.lazy) snapshot.materialize(views)
    this.lazy = []
  }

  /** @internal Called by a snapshot when it is released. */
  snapshotClosed (): void {
    this.openSnapshots--
  }
}

/**
 * Deletes every key in `[gte, lt)` of `tree`.
 * @internal
 */
export function deleteRange (tree: BTree, gte: Uint8Array, lt: Uint8Array): number {
  // Collect first, then delete: the cursor must not walk nodes the deletes
  // change. Collecting is synchronous, so the live root serves; freezing it
  // would only make every delete copy its path.
  const keys: Uint8Array[] = []
  const end = new KeyWords(lt)
  const cursor = new Cursor(tree.root)
  for (cursor.seek(gte, 'ge'); cursor.valid; cursor.next()) {
    const leaf = cursor.leaf!
    const i = cursor.pos
    if (compareEntry(leaf, i, end) <= 0) break
    keys.push(leaf.key(i))
  }
  for (const key of keys) tree.delete(key)
  return keys.length
}
