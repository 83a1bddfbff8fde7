/**
 * Vnodes: the kernel-owned wrapper around a driver's VnodeImpl (NetBSD's
 * struct vnode around the file system's inode). The wrapper carries the
 * generic state — reference count, the mount it lives on, a mount covering
 * it, the name cache of a directory — and the driver's object only the
 * on-disk work.
 *
 * References: a Vnode is held (usecount > 0) by open files, by a process's
 * cwd, by a mount for its root and for the vnode it covers, and by a system
 * call for its duration (namei returns held vnodes; the call releases them).
 * An unheld vnode stays cached in its mount's vnode cache until evicted;
 * eviction calls the driver's reclaim().
 */

import type { Mount } from './mount.js';
import type { Vattr, VnodeImpl, VnodeKey, VType } from './types.js';

export class Vnode {
  usecount = 0;
  /** Set when the driver's reclaim() ran: the object must not be used again. */
  reclaimed = false;
  /** The mount whose root covers this directory (this vnode is a mount point). */
  mountedHere: Mount | null = null;
  /**
   * Name cache of a directory (NetBSD's namecache): name -> vnode found by the last lookup. Entries hold no
   * reference; a hit on a reclaimed vnode is a miss. Names are removed when they are unlinked or renamed.
   */
  nameCache: Map<string, Vnode> | null = null;
  /** Links of the mount's free list (FreeList), null when not on it. */
  freePrev: Vnode | null = null;
  freeNext: Vnode | null = null;
  onFreeList = false;

  constructor(
    readonly mount: Mount,
    readonly key: VnodeKey,
    readonly impl: VnodeImpl,
  ) {}

  getattr(): Vattr {
    return this.impl.getattr();
  }

  /** A file's type never changes while its vnode lives: asked once. */
  private typeOnce: VType | undefined;

  get type(): VType {
    return (this.typeOnce ??= this.impl.getattr().type);
  }

  get isRoot(): boolean {
    return this.mount.rootVnode === this;
  }

  cacheName(name: string, vp: Vnode): void {
    if (this.mount.caseInsensitive) return;
    (this.nameCache ??= new Map()).set(name, vp);
  }

  cachedName(name: string): Vnode | undefined {
    const vp = this.nameCache?.get(name);
    if (vp === undefined) return undefined;
    if (vp.reclaimed) {
      this.nameCache!.delete(name);
      return undefined;
    }
    return vp;
  }

  forgetName(name: string): void {
    this.nameCache?.delete(name);
  }

  purgeNames(): void {
    this.nameCache = null;
  }
}
