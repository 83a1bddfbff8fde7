/**
 * A mounted tmpfs (NetBSD's struct tmpfs_mount): the table of live nodes,
 * the space and node accounting behind ENOSPC and statvfs, and node
 * allocation. Space is counted in PAGE_SIZE pages of file data and extended
 * attributes; directories and symlinks cost a node each but no pages, so
 * statvfs's blocks = used + free holds exactly.
 */

import { KernelError } from '../../kern/error.js';
import type { FsMount, KernelServices, NewNode, StatVfs, VnodeImpl, VnodeKey, VType } from '../../vfs/types.js';
import { TmpNode } from './node.js';
import { PAGE_SIZE, type TmpfsOptions } from './options.js';

/** Largest file: 4 PiB, so that every offset and page boundary is an exact JavaScript number. */
export const TMPFS_MAX_FILE_SIZE = 2 ** 52;
export const TMPFS_NAME_MAX = 255;
export const ROOT_KEY = 2;

export class TmpfsMount implements FsMount {
  readonly rootKey: VnodeKey = ROOT_KEY;
  readonly nameMax = TMPFS_NAME_MAX;
  readonly maxFileSize = TMPFS_MAX_FILE_SIZE;
  /** Every node not yet freed, by key (= inode number). Keys are never reused within a mount. */
  private readonly nodes = new Map<VnodeKey, TmpNode>();
  private nextKey = ROOT_KEY;
  readonly root: TmpNode;
  usedPages = 0;
  readonly totalPages: number;
  readonly maxNodes: number;
  private readonly fsid: number;

  constructor(
    readonly k: KernelServices,
    opts: TmpfsOptions,
  ) {
    this.totalPages = opts.pages;
    this.maxNodes = opts.nodes;
    const r = new Uint8Array(4);
    k.random(r);
    this.fsid = new DataView(r.buffer).getUint32(0, true);
    this.root = this.allocNode('dir', { type: 'dir', mode: opts.rootMode, uid: opts.rootUid, gid: opts.rootGid, time: k.now() }, null);
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  allocNode(type: VType, n: NewNode, parent: TmpNode | null): TmpNode {
    if (this.nodes.size >= this.maxNodes) throw new KernelError('ENOSPC');
    const key = this.nextKey++;
    const node = new TmpNode(this, key, type, n, parent);
    this.nodes.set(key, node);
    return node;
  }

  freeNode(node: TmpNode): void {
    this.releasePages(node.releaseStorage());
    node.freed = true;
    this.nodes.delete(node.key);
  }

  /** Charges `n` pages to the size limit, or ENOSPC (charging nothing). */
  reservePages(n: number): void {
    if (n > this.totalPages - this.usedPages) throw new KernelError('ENOSPC');
    this.usedPages += n;
  }

  releasePages(n: number): void {
    this.usedPages -= n;
  }

  /** The TmpNode behind a VnodeImpl the VFS passes back: it must be one of ours and alive. */
  own(v: VnodeImpl): TmpNode {
    if (!(v instanceof TmpNode) || v.fs !== this) throw new KernelError('EXDEV');
    if (v.freed) throw new KernelError('ENOENT');
    return v;
  }

  async vget(key: VnodeKey): Promise<VnodeImpl> {
    const node = this.nodes.get(key);
    if (node === undefined) throw new KernelError('ENOENT');
    return node;
  }

  async statvfs(): Promise<StatVfs> {
    const bfree = this.totalPages - this.usedPages;
    const ffree = this.maxNodes - this.nodes.size;
    return {
      bsize: PAGE_SIZE,
      frsize: PAGE_SIZE,
      blocks: this.totalPages,
      bfree,
      bavail: bfree,
      files: this.maxNodes,
      ffree,
      favail: ffree,
      fsid: this.fsid,
      namemax: TMPFS_NAME_MAX,
    };
  }

  async sync(): Promise<void> {}

  async unmount(): Promise<void> {
    for (const node of this.nodes.values()) node.releaseStorage();
    this.nodes.clear();
    this.usedPages = 0;
  }
}
