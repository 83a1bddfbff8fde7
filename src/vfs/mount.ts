/**
 * A mounted file system (NetBSD's struct mount): the driver's FsMount, the
 * vnode cache keyed by the driver's VnodeKey, the mount's rw-lock, and the
 * wrapper every driver call goes through (errors become KernelErrors; a
 * driver that throws anything else has a bug: the mount goes read-only).
 *
 * Lock order: Mount.lock is the only lock the VFS takes around driver calls,
 * one mount at a time (a call that touches two mounts, such as mount(2) on a
 * directory of another, never holds both). Mutations hold it exclusively.
 */

import type { Awaitable } from '../kern/awaitable.js';
import { KernelError } from '../kern/error.js';
import { RwLock } from '../kern/lock.js';
import type { BlockDevice } from '../dev/blockdev.js';
import type { FileSystemType, FsMount, KernelServices, OptionMap, VnodeImpl } from './types.js';
import { Vnode } from './vnode.js';

/** Thrown by the system-call layer under a mount lock when a name it looked up changed meanwhile: the call starts over. */
export class Restart extends Error {}

export type AtimePolicy = 'relatime' | 'strictatime' | 'noatime';

let nextMountId = 1;

export class Mount {
  readonly id = nextMountId++;
  readonly lock = new RwLock();
  /** Every vnode of this mount the kernel knows, held or cached. */
  readonly vcache = new Map<number, Vnode>();
  /** Unheld vnodes in LRU order (first = oldest), candidates for eviction. */
  readonly freeList = new FreeList();
  /** Vnode loads in flight, so concurrent lookups of one file share one vget(). */
  private readonly loading = new Map<number, Promise<Vnode>>();
  rootVnode!: Vnode;
  /** The directory this mount covers (null for the root file system). */
  covered: Vnode | null = null;
  /** Path of the mount point, for messages and the mount table. */
  path = '/';
  readonly: boolean;
  /** Set when a driver bug forced the mount read-only. */
  panicked = false;
  readonly atime: AtimePolicy;
  readonly caseInsensitive: boolean;
  readonly nameMax: number;
  readonly maxFileSize: number;
  /** Cap on cached unheld vnodes. */
  vcacheLimit = 20000;

  constructor(
    readonly type: FileSystemType,
    readonly fs: FsMount,
    readonly dev: BlockDevice | null,
    readonly options: OptionMap,
    readonlyMount: boolean,
    readonly services: KernelServices,
    readonly source: string,
  ) {
    this.readonly = readonlyMount;
    this.atime = options.has('noatime') ? 'noatime' : options.has('strictatime') ? 'strictatime' : 'relatime';
    this.caseInsensitive = fs.caseInsensitive ?? false;
    this.nameMax = fs.nameMax ?? 255;
    this.maxFileSize = fs.maxFileSize ?? Number.MAX_SAFE_INTEGER;
  }

  /**
   * Runs a driver call. KernelErrors pass through; anything else is a driver bug:
   * logged as a panic, the mount made read-only, and the caller sees EIO.
   */
  call<T>(what: string, fn: () => Awaitable<T>): Awaitable<T> {
    let out: Awaitable<T>;
    try {
      out = fn();
    } catch (e) {
      throw this.translate(what, e);
    }
    if (!(out instanceof Promise)) return out;
    return out.catch((e: unknown) => {
      throw this.translate(what, e);
    });
  }

  /**
   * A driver call that answers without waiting, under the lock taken shared when that needs no wait: its
   * answer, or undefined when the lock was busy or the driver could not answer at once. Errors as call().
   */
  callNow<T>(what: string, fn: () => T | undefined): T | undefined {
    if (!this.lock.tryEnterRead()) return undefined;
    try {
      return fn();
    } catch (e) {
      throw this.translate(what, e);
    } finally {
      this.lock.exitRead();
    }
  }

  translate(what: string, e: unknown): KernelError {
    if (e instanceof KernelError) return e;
    if (e instanceof Restart) throw e;
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    this.services.log(`panic: ${this.type.name} on ${this.path}: ${what}: ${msg}; mount is now read-only`);
    this.panicked = true;
    this.readonly = true;
    return new KernelError('EIO', `${this.type.name}: internal error in ${what}: ${msg}`);
  }

  /**
   * vget() without waiting: the held vnode when it is cached or the driver loads it from memory
   * (FsMount.vgetNow), undefined otherwise. Caller holds the mount lock (any mode).
   */
  vgetNow(key: number): Vnode | undefined {
    let vp = this.vcache.get(key);
    if (vp === undefined) {
      if (this.fs.vgetNow === undefined || this.loading.has(key)) return undefined;
      let impl: VnodeImpl | undefined;
      try {
        impl = this.fs.vgetNow(key);
      } catch (e) {
        throw this.translate('vget', e);
      }
      if (impl === undefined) return undefined;
      vp = new Vnode(this, key, impl);
      this.vcache.set(key, vp);
    }
    vref(vp);
    return vp;
  }

  /** Holds the vnode for `key`, loading it through the driver on a miss. Caller holds the mount lock (any mode). */
  async vget(key: number): Promise<Vnode> {
    let vp = this.vgetNow(key);
    if (vp !== undefined) return vp;
    let pending = this.loading.get(key);
    if (pending === undefined) {
      pending = (async () => {
        const impl = await this.call('vget', () => this.fs.vget(key));
        const nvp = new Vnode(this, key, impl);
        this.vcache.set(key, nvp);
        return nvp;
      })();
      this.loading.set(key, pending);
      pending.then(
        () => this.loading.delete(key),
        () => this.loading.delete(key),
      );
    }
    vp = await pending;
    vref(vp);
    return vp;
  }

  /**
   * Evicts unheld vnodes beyond the cache cap, and a sixteenth of the cap more, so that a walk through more
   * files than the cap takes the exclusive lock once every so many releases rather than on each. Needs the
   * exclusive lock (reclaim is a mutation).
   */
  async evict(all = false): Promise<void> {
    const limit = all ? 0 : this.vcacheLimit - Math.floor(this.vcacheLimit / 16);
    while (this.freeList.size > limit) {
      const vp = this.freeList.first!;
      this.freeList.delete(vp);
      if (vp.usecount > 0) continue;
      const w = this.reclaim(vp);
      if (w) await w;
    }
  }

  reclaim(vp: Vnode): Awaitable<void> {
    this.vcache.delete(vp.key);
    vp.reclaimed = true;
    vp.purgeNames();
    if (vp.impl.reclaim) return this.call('reclaim', () => vp.impl.reclaim!());
  }

  /** Vnodes currently held by someone other than the mount itself (for EBUSY at unmount). */
  busyVnodes(): Vnode[] {
    const out: Vnode[] = [];
    for (const vp of this.vcache.values()) {
      const own = vp === this.rootVnode ? 1 : 0;
      if (vp.usecount > own) out.push(vp);
    }
    return out;
  }
}

/**
 * The unheld vnodes of a mount in LRU order, linked through the vnodes themselves: adding, removing and
 * taking the oldest are O(1) whatever the churn (a Set used as a queue slows down with the holes its
 * deletions leave at the front).
 */
export class FreeList {
  first: Vnode | null = null;
  private last: Vnode | null = null;
  size = 0;

  /** Appends as the newest; a vnode already on the list keeps its place. */
  add(vp: Vnode): void {
    if (vp.onFreeList) return;
    vp.onFreeList = true;
    vp.freePrev = this.last;
    vp.freeNext = null;
    if (this.last) this.last.freeNext = vp;
    else this.first = vp;
    this.last = vp;
    this.size++;
  }

  delete(vp: Vnode): boolean {
    if (!vp.onFreeList) return false;
    if (vp.freePrev) vp.freePrev.freeNext = vp.freeNext;
    else this.first = vp.freeNext;
    if (vp.freeNext) vp.freeNext.freePrev = vp.freePrev;
    else this.last = vp.freePrev;
    vp.freePrev = vp.freeNext = null;
    vp.onFreeList = false;
    this.size--;
    return true;
  }

  has(vp: Vnode): boolean {
    return vp.onFreeList;
  }

  clear(): void {
    while (this.first) this.delete(this.first);
  }

  *[Symbol.iterator](): IterableIterator<Vnode> {
    for (let vp = this.first; vp; vp = vp.freeNext) yield vp;
  }
}

export function vref(vp: Vnode): void {
  if (vp.usecount++ === 0) vp.mount.freeList.delete(vp);
}

/**
 * Releases a reference. On the last one, a file whose link count is 0 is inactivated (its storage freed,
 * NetBSD's VOP_INACTIVE) and the vnode joins the free list; the cache is trimmed when over its cap.
 */
export function vrele(vp: Vnode): Promise<void> | void {
  if (vp.usecount <= 0) throw new KernelError('EINVAL', 'vrele: vnode not held');
  if (--vp.usecount > 0) return;
  return vreleLast(vp);
}

/** Drops a reference taken under the mount's lock without inactivating (the caller holds the lock). */
export function vreleLocked(vp: Vnode): void {
  if (vp.usecount <= 0) throw new KernelError('EINVAL', 'vrele: vnode not held');
  if (--vp.usecount === 0 && !vp.reclaimed) vp.mount.freeList.add(vp);
}

function vreleLast(vp: Vnode): Promise<void> | void {
  const mp = vp.mount;
  if (vp.reclaimed) return;
  let orphan = false;
  try {
    orphan = vp.impl.getattr().nlink === 0;
  } catch {
    orphan = false;
  }
  // The usual case needs no lock: the vnode joins the free list.
  if (orphan || mp.freeList.size >= mp.vcacheLimit) return inactivate(vp, orphan);
  mp.freeList.add(vp);
}

/** The last release of an orphan (its storage freed), or one that finds the cache full, under the exclusive lock. */
async function inactivate(vp: Vnode, orphan: boolean): Promise<void> {
  const mp = vp.mount;
  await mp.lock.enterWrite();
  try {
    if (vp.usecount === 0 && !vp.reclaimed) {
      if (orphan && vp.impl.inactive && !mp.readonly) await mp.call('inactive', () => vp.impl.inactive!());
      if (orphan) await mp.reclaim(vp);
      else mp.freeList.add(vp);
    }
    await mp.evict();
  } finally {
    mp.lock.exitWrite();
  }
}
