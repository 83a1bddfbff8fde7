/**
 * A tmpfs node (NetBSD's struct tmpfs_node): attributes, and by type the
 * file's data pages, the directory's entries, or the symlink's target. The
 * node is the VnodeImpl itself: tmpfs keeps every node in memory from
 * creation until its last link and last reference are gone (inactive()).
 *
 * Data is sparse: a regular file keeps only the pages that were written, in a
 * Map from page index to an array of at most PAGE_SIZE bytes, so a hole (or
 * a 1 TiB file that was only truncated up) costs nothing. A page's array
 * starts short and doubles as writes reach further into it, so small files
 * take little memory; bytes past its end read as zeros. Every page is charged
 * to the mount's size limit in full when it is allocated and credited back
 * when it is freed.
 *
 * Times follow POSIX: a new node takes NewNode.time for all its times and
 * its directory's mtime/ctime; link/unlink/rename set the parent(s)' mtime
 * and ctime and the node's ctime; write sets mtime and ctime; any attribute
 * change sets the times the VFS passes with it.
 */

import { KernelError } from '../../kern/error.js';
import type { DirEntry, NewNode, SetAttr, Timespec, Vattr, VnodeImpl, VnodeKey, VType } from '../../vfs/types.js';
import { DirTable, FIRST_SEQ } from './dir.js';
import type { TmpfsMount } from './mount.js';
import { PAGE_SIZE } from './options.js';

/** Most links to one node (POSIX LINK_MAX as NetBSD's tmpfs has it). */
export const LINK_MAX = 32767;
/** Longest symlink target in bytes: PATH_MAX (1024) less the terminating NUL. */
export const SYMLINK_MAX = 1023;
/** Extended attributes (Linux's limits): name length, one value, and all of one node's. */
export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;
export const XATTR_TOTAL_MAX = 256 * 1024;
/** Smallest storage for a page: a page is kept short until written further (PAGE_SIZE is a multiple). */
const MIN_PAGE_STORE = 256;
/** What stat reports as a directory's size per entry (NetBSD's tmpfs reports sizeof(struct tmpfs_dirent) each). */
const DIRENT_SIZE = 32;

const encoder = new TextEncoder();
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return encoder.encode(s).length;
  return s.length;
}

export class TmpNode implements VnodeImpl {
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  readonly birthtime: Timespec;
  /** Bytes; for a directory computed from its entries, for a symlink its target's length. */
  size = 0;
  /** Regular file data: page index -> page. */
  readonly pages: Map<number, Uint8Array> | null;
  /** Directory entries. */
  readonly dir: DirTable<TmpNode> | null;
  /** A directory's parent ('..'); the root is its own parent. */
  parent: TmpNode;
  /** Symlink target. */
  target = '';
  xattrs: Map<string, Uint8Array> | null = null;
  /** Pages charged for xattrs. */
  private xattrPages = 0;
  /** Freed by inactive(): no longer answers vget. */
  freed = false;

  constructor(
    readonly fs: TmpfsMount,
    readonly key: VnodeKey,
    readonly type: VType,
    n: NewNode,
    parent: TmpNode | null,
  ) {
    this.mode = n.mode & 0o7777;
    this.uid = n.uid;
    this.gid = n.gid;
    this.rdev = type === 'blk' || type === 'chr' ? (n.rdev ?? 0) : 0;
    this.atime = this.mtime = this.ctime = this.birthtime = n.time;
    this.nlink = type === 'dir' ? 2 : 1;
    this.pages = type === 'reg' ? new Map() : null;
    this.dir = type === 'dir' ? new DirTable() : null;
    this.parent = parent ?? this;
  }

  getattr(): Vattr {
    let size = this.size;
    let blocks = 0;
    if (this.dir !== null) size = (this.dir.size + 2) * DIRENT_SIZE;
    else if (this.pages !== null) blocks = this.pages.size * (PAGE_SIZE / 512);
    return {
      type: this.type,
      mode: this.mode,
      nlink: this.nlink,
      uid: this.uid,
      gid: this.gid,
      size,
      blocks,
      blksize: PAGE_SIZE,
      ino: this.key,
      rdev: this.rdev,
      atime: this.atime,
      mtime: this.mtime,
      ctime: this.ctime,
      birthtime: this.birthtime,
    };
  }

  /** Sets exactly the times given: the VFS decides which times a change touches (an atime update comes alone). */
  async setattr(a: SetAttr): Promise<void> {
    if (a.size !== undefined) {
      if (this.type === 'dir') throw new KernelError('EISDIR');
      if (this.pages === null) throw new KernelError('EINVAL');
      if (!Number.isSafeInteger(a.size) || a.size < 0) throw new KernelError('EINVAL');
      if (a.size > this.fs.maxFileSize) throw new KernelError('EFBIG');
      this.truncate(a.size);
    }
    if (a.mode !== undefined) this.mode = a.mode & 0o7777;
    if (a.uid !== undefined) this.uid = a.uid;
    if (a.gid !== undefined) this.gid = a.gid;
    if (a.atime !== undefined) this.atime = a.atime;
    if (a.mtime !== undefined) this.mtime = a.mtime;
    if (a.ctime !== undefined) this.ctime = a.ctime;
  }

  /** Sets the size, freeing whole pages past the end and zeroing the tail of a kept partial page. */
  private truncate(size: number): void {
    const pages = this.pages!;
    if (size < this.size) {
      const keep = Math.ceil(size / PAGE_SIZE);
      const span = Math.ceil(this.size / PAGE_SIZE) - keep;
      let freed = 0;
      if (span > pages.size) {
        for (const idx of [...pages.keys()]) if (idx >= keep && pages.delete(idx)) freed++;
      } else {
        for (let idx = keep; idx < keep + span; idx++) if (pages.delete(idx)) freed++;
      }
      this.fs.releasePages(freed);
      const within = size % PAGE_SIZE;
      if (within !== 0) pages.get(keep - 1)?.fill(0, within);
    }
    this.size = size;
  }

  private requireDir(): DirTable<TmpNode> {
    if (this.dir === null) throw new KernelError('ENOTDIR');
    return this.dir;
  }

  async lookup(name: string): Promise<VnodeKey | null> {
    const dir = this.requireDir();
    // A removed directory has no entries, not even '..' (Linux answers ENOENT there too).
    if (this.nlink === 0) return null;
    if (name === '..') return this.parent.key;
    if (name === '.') return this.key;
    return dir.get(name)?.key ?? null;
  }

  /** Adds a new node named `name` here: checks the directory is alive and has room for a link. */
  private addNode(name: string, type: VType, n: NewNode): TmpNode {
    const dir = this.requireDir();
    if (this.nlink === 0) throw new KernelError('ENOENT');
    if (dir.has(name)) throw new KernelError('EEXIST');
    if (type === 'dir' && this.nlink >= LINK_MAX) throw new KernelError('EMLINK');
    const node = this.fs.allocNode(type, n, this);
    dir.add(name, node);
    if (type === 'dir') this.nlink++;
    this.mtime = this.ctime = n.time;
    return node;
  }

  async create(name: string, n: NewNode): Promise<VnodeKey> {
    if (n.type === 'dir' || n.type === 'lnk') throw new KernelError('EINVAL');
    return this.addNode(name, n.type, n).key;
  }

  async mkdir(name: string, n: NewNode): Promise<VnodeKey> {
    return this.addNode(name, 'dir', n).key;
  }

  async symlink(name: string, target: string, n: NewNode): Promise<VnodeKey> {
    // Linux refuses an empty target (ENOENT); POSIX leaves it open.
    if (target.length === 0) throw new KernelError('ENOENT');
    const len = utf8Length(target);
    if (len > SYMLINK_MAX) throw new KernelError('ENAMETOOLONG');
    const node = this.addNode(name, 'lnk', n);
    node.target = target;
    node.size = len;
    return node.key;
  }

  async link(name: string, target: VnodeImpl, time: Timespec): Promise<void> {
    const dir = this.requireDir();
    const t = this.fs.own(target);
    if (t.dir !== null) throw new KernelError('EPERM');
    if (this.nlink === 0 || t.nlink === 0) throw new KernelError('ENOENT');
    if (dir.has(name)) throw new KernelError('EEXIST');
    if (t.nlink >= LINK_MAX) throw new KernelError('EMLINK');
    dir.add(name, t);
    t.nlink++;
    t.ctime = time;
    this.mtime = this.ctime = time;
  }

  async remove(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const dir = this.requireDir();
    const n = this.fs.own(node);
    if (n.dir !== null) throw new KernelError('EISDIR');
    if (dir.get(name) !== n) throw new KernelError('ENOENT');
    dir.delete(name);
    n.nlink--;
    n.ctime = time;
    this.mtime = this.ctime = time;
  }

  async rmdir(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const dir = this.requireDir();
    const n = this.fs.own(node);
    if (n.dir === null) throw new KernelError('ENOTDIR');
    if (n === this || n === this.fs.root) throw new KernelError('EBUSY');
    if (dir.get(name) !== n) throw new KernelError('ENOENT');
    if (n.dir.size > 0) throw new KernelError('ENOTEMPTY');
    dir.delete(name);
    n.nlink = 0;
    n.ctime = time;
    this.nlink--;
    this.mtime = this.ctime = time;
  }

  async rename(fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec): Promise<void> {
    const sdir = this.requireDir();
    const f = this.fs.own(from);
    const td = this.fs.own(toDir);
    const tdir = td.requireDir();
    const t = to === null ? null : this.fs.own(to);
    if (sdir.get(fromName) !== f) throw new KernelError('ENOENT');
    if ((t === null ? undefined : t) !== tdir.get(toName)) throw new KernelError('ENOENT');
    if (td.nlink === 0) throw new KernelError('ENOENT');
    // Two names of one file: POSIX says rename does nothing.
    if (f === t) return;
    if (f.dir !== null) {
      // A directory may not move below itself: walk up from the target (bounded by the node count).
      let p = td;
      for (let steps = 0; ; steps++) {
        if (p === f) throw new KernelError('EINVAL');
        if (p === p.parent) break;
        if (steps > this.fs.nodeCount) throw new KernelError('EIO', `tmpfs: directory ${td.key}: '..' chain does not reach the root`);
        p = p.parent;
      }
    }
    if (t !== null) {
      if (t.dir !== null) {
        if (f.dir === null) throw new KernelError('EISDIR');
        if (t.dir.size > 0) throw new KernelError('ENOTEMPTY');
      } else if (f.dir !== null) throw new KernelError('ENOTDIR');
    }
    const movesDir = f.dir !== null && td !== this;
    if (movesDir && t === null && td.nlink >= LINK_MAX) throw new KernelError('EMLINK');

    if (t !== null) {
      tdir.delete(toName);
      if (t.dir !== null) {
        t.nlink = 0;
        td.nlink--;
      } else t.nlink--;
      t.ctime = time;
    }
    sdir.delete(fromName);
    tdir.add(toName, f);
    if (f.dir !== null) {
      // The moved directory's '..' now names its new parent.
      f.parent = td;
      td.nlink++;
      this.nlink--;
    }
    f.ctime = time;
    this.mtime = this.ctime = time;
    td.mtime = td.ctime = time;
  }

  async readlink(): Promise<string> {
    if (this.type !== 'lnk') throw new KernelError('EINVAL');
    return this.target;
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    const pages = this.pages;
    if (pages === null) throw new KernelError(this.type === 'dir' ? 'EISDIR' : 'EINVAL');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new KernelError('EINVAL');
    if (offset >= this.size) return 0;
    const n = Math.min(buf.length, this.size - offset);
    let done = 0;
    while (done < n) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE_SIZE);
      const within = pos - idx * PAGE_SIZE;
      const len = Math.min(PAGE_SIZE - within, n - done);
      const page = pages.get(idx);
      // A page may be stored shorter than PAGE_SIZE (a small file's tail): past its end it reads as zeros.
      const have = page === undefined ? 0 : Math.max(0, Math.min(len, page.length - within));
      if (have > 0) buf.set(page!.subarray(within, within + have), done);
      if (have < len) buf.fill(0, done + have, done + len);
      done += len;
    }
    return n;
  }

  async write(buf: Uint8Array, offset: number, time: Timespec): Promise<number> {
    const pages = this.pages;
    if (pages === null) throw new KernelError(this.type === 'dir' ? 'EISDIR' : 'EINVAL');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new KernelError('EINVAL');
    if (buf.length === 0) return 0;
    const end = offset + buf.length;
    if (end > this.fs.maxFileSize) throw new KernelError('EFBIG');
    const first = Math.floor(offset / PAGE_SIZE);
    const last = Math.floor((end - 1) / PAGE_SIZE);
    // All or nothing: charge every page this write allocates before touching any.
    let need = 0;
    for (let idx = first; idx <= last; idx++) if (!pages.has(idx)) need++;
    this.fs.reservePages(need);
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE_SIZE);
      const within = pos - idx * PAGE_SIZE;
      const len = Math.min(PAGE_SIZE - within, buf.length - done);
      let page = pages.get(idx);
      const need = within + len;
      if (page === undefined || page.length < need) {
        // Small files keep a short page that doubles as it fills (charged as a whole page all the same).
        let size = page === undefined ? MIN_PAGE_STORE : page.length;
        while (size < need) size *= 2;
        const grown = new Uint8Array(Math.min(size, PAGE_SIZE));
        if (page !== undefined) grown.set(page);
        page = grown;
        pages.set(idx, page);
      }
      page.set(buf.subarray(done, done + len), within);
      done += len;
    }
    if (end > this.size) this.size = end;
    this.mtime = this.ctime = time;
    return buf.length;
  }

  async readdir(cookie: number, max: number): Promise<DirEntry[]> {
    const dir = this.requireDir();
    const out: DirEntry[] = [];
    // A removed directory lists nothing, not even '.' and '..' (as Linux does).
    if (this.nlink === 0 || max <= 0) return out;
    if (cookie === 0) out.push({ name: '.', key: this.key, type: 'dir', next: 1 });
    if (cookie <= 1 && out.length < max) out.push({ name: '..', key: this.parent.key, type: 'dir', next: FIRST_SEQ });
    for (const e of dir.from(Math.max(cookie, FIRST_SEQ), max - out.length)) {
      out.push({ name: e.name, key: e.node.key, type: e.node.type, next: e.next });
    }
    return out;
  }

  async fsync(): Promise<void> {}

  async inactive(): Promise<void> {
    if (this.nlink === 0 && !this.freed) this.fs.freeNode(this);
  }

  /** Drops data and entries; the mount credits the pages and the node. */
  releaseStorage(): number {
    let pages = this.xattrPages;
    this.xattrPages = 0;
    this.xattrs = null;
    if (this.pages !== null) {
      pages += this.pages.size;
      this.pages.clear();
    }
    this.dir?.clear();
    this.size = 0;
    return pages;
  }

  async getxattr(name: string): Promise<Uint8Array | null> {
    checkXattrName(name);
    return this.xattrs?.get(name)?.slice() ?? null;
  }

  async setxattr(name: string, value: Uint8Array, flags: { create?: boolean; replace?: boolean }): Promise<void> {
    checkXattrName(name);
    if (value.length > XATTR_SIZE_MAX) throw new KernelError('E2BIG');
    const old = this.xattrs?.get(name);
    if (flags.create && old !== undefined) throw new KernelError('EEXIST');
    if (flags.replace && old === undefined) throw new KernelError('ENODATA');
    const total = this.xattrBytes() - (old === undefined ? 0 : utf8Length(name) + old.length) + utf8Length(name) + value.length;
    if (total > XATTR_TOTAL_MAX) throw new KernelError('ENOSPC');
    this.chargeXattrs(total);
    (this.xattrs ??= new Map()).set(name, value.slice());
    this.ctime = this.fs.k.now();
  }

  async listxattr(): Promise<string[]> {
    return this.xattrs === null ? [] : [...this.xattrs.keys()];
  }

  async removexattr(name: string): Promise<void> {
    checkXattrName(name);
    if (this.xattrs?.delete(name) !== true) throw new KernelError('ENODATA');
    this.chargeXattrs(this.xattrBytes());
    this.ctime = this.fs.k.now();
  }

  private xattrBytes(): number {
    let n = 0;
    if (this.xattrs !== null) for (const [k, v] of this.xattrs) n += utf8Length(k) + v.length;
    return n;
  }

  /** Charges (or credits) the pages that `bytes` of xattrs occupy; ENOSPC leaves the charge as it was. */
  private chargeXattrs(bytes: number): void {
    const want = Math.ceil(bytes / PAGE_SIZE);
    if (want > this.xattrPages) this.fs.reservePages(want - this.xattrPages);
    else this.fs.releasePages(this.xattrPages - want);
    this.xattrPages = want;
  }
}

function checkXattrName(name: string): void {
  const len = utf8Length(name);
  if (len === 0 || len > XATTR_NAME_MAX) throw new KernelError('ERANGE');
}
