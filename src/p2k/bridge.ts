/**
 * p2k ("puffs to kernel" in NetBSD): the bridge from FUSE requests to our system-call API. The kernel runs
 * in the sandboxed server; this is only its client. Files are named by path in that API, so the node table
 * (nodes.ts) keeps the (parent, name) entries of each node id; open files and directories are descriptors in
 * the served process, and the FUSE file handle names them.
 *
 * Credentials: with `default_permissions` the host kernel checks permissions from the attributes we return,
 * so requests run in one process with the mount owner's credentials and new files are given to the caller
 * (chown after create). Without it, each caller (uid, gid) gets a process of its own in the served kernel,
 * which then checks permissions itself (supplementary groups are unknown to FUSE, so only uid and gid count).
 */

import type { SyscallApi, Stat } from '../vfs/syscalls.js';
import { O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC, O_WRONLY, O_DIRECTORY, O_RDONLY, AT_SYMLINK_NOFOLLOW, RENAME_EXCHANGE } from '../vfs/fcntl.js';
import type { VType } from '../vfs/types.js';
import { KernelError, kerr } from '../kern/error.js';
import type { Attr, AttrOut, Caller, ConnInfo, DirBuffer, EntryOut, OpenOut, RawFileSystem, SetattrIn, StatfsOut } from './fuse/session.js';
import { ENTRY_OUT_SIZE, FATTR, Init } from './fuse/proto.js';
import { NodeTable, type Node } from './nodes.js';
import { lstatMany, openRead, openReadMany, readdirPlus, type OpenReadManyItem } from '../sysproxy/compound.js';

export interface BridgeOptions {
  /** Where the served file system is mounted in the kernel ('/mnt'). */
  root: string;
  /** Makes a process in the served kernel with these credentials. */
  newProc(cred: { uid: number; gid: number }): Promise<SyscallApi> | SyscallApi;
  /** Host kernel checks permissions (FUSE `default_permissions`). */
  defaultPermissions?: boolean;
  /** Seconds the host kernel may cache names and attributes (default 1) and absent names (default 1). */
  entryTimeout?: number;
  attrTimeout?: number;
  negativeTimeout?: number;
  /** The mount owner's credentials (default root). */
  ownerUid?: number;
  ownerGid?: number;
  /** How many per-caller processes to keep (default 64). */
  maxProcs?: number;
  /**
   * The served file system is mounted read-only: nothing can vanish or change, so a read-only OPEN by a caller
   * whose permissions the host kernel has checked is answered at once and the served kernel's open overlaps
   * the host kernel's next request (an error, only possible from a corrupt image, then comes from READ).
   */
  readonly?: boolean;
  /** Apply Linux's fs.protected_hardlinks rule to callers (the daemon follows the host's sysctl). */
  protectedHardlinks?: boolean;
  /**
   * Files need no OPEN/RELEASE: the mount is read-only and every caller may use the owner's process (the host
   * kernel checks permissions, or only the owner can reach the mount). When the host kernel supports it
   * (FUSE_NO_OPEN_SUPPORT), the first OPEN answers ENOSYS and from then on the kernel sends neither OPEN nor
   * RELEASE for files: READ names the node, and the bridge keeps descriptors of its own per node. That halves
   * the requests of a program reading many small files.
   */
  noOpen?: boolean;
}

const DT: Record<VType, number> = { fifo: 1, chr: 2, dir: 4, blk: 6, reg: 8, lnk: 10, sock: 12 };
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;
const CAPS = 'security.capability';
/** Bytes of a READDIRPLUS record without its name (fuse_entry_out + fuse_dirent). */
const P_ENTRY_RECORD = ENTRY_OUT_SIZE + 24;
/** Entries fetched per getdents call while filling a READDIR reply. */
const DIRENT_BATCH = 512;
/** Cap on entries a directory handle buffers (a hostile image could claim millions). */
const MAX_DIR_ENTRIES = 4_000_000;
/** Descriptors kept open per node when the kernel sends no OPEN (beyond this the least recently read close). */
const MAX_NODE_FDS = 256;
/** Files read ahead of a reader going through a directory in listing order (see Bridge.prefetchAfter). */
const PREFETCH_FILES = 32;
/** Subdirectories of a listing whose listings are read ahead (Bridge.prefetchListing). */
const PREFETCH_DIRS = 8;
/** A new batch is read ahead only when fewer files than this are still waiting ahead of the reader. */
const PREFETCH_LOW = 8;
/** Prefetched file heads kept waiting for their READ (beyond this the oldest are dropped). */
const MAX_PREFETCHED = 64;
/** Directory listings kept per node when the kernel sends no OPENDIR (beyond this the least recently read go). */
const MAX_NODE_DIRS = 64;

interface DirState {
  path: string | null;
  /** Entries read so far; position k in the stream is entries[k] ('.' and '..' first). */
  entries: { name: string; ino: number; type: number }[];
  eof: boolean;
  /** The last non-empty regular file sent with attributes, for the listing order (Bridge.nextInListing). */
  lastFile?: number;
  /** Attributes that came with the listing (readdirPlus): plus[k] is entries[k + 2]'s, null where lstat failed. */
  plus?: (Stat | null)[];
  /** The listing's first non-empty regular file sent with attributes, until it was handed to prefetchListing. */
  firstFile?: number;
  /** Subdirectories sent with attributes, in listing order, until handed to prefetchListing. */
  subdirs?: number[];
}

interface Handle {
  proc: SyscallApi;
  /** The descriptor in the served process; -1 while `pending`. */
  fd: number;
  node: Node;
  dir?: DirState;
  /** An open still on its way (read-only mounts answer OPEN before the served kernel has). */
  pending?: Promise<number>;
  /** READDIRs of a listing shared by every reader of the node (no OPENDIR) run one after another. */
  queue?: Promise<unknown>;
}

/** A descriptor the bridge opened for a node (no OPEN from the kernel): shared by the READs of that node. */
interface NodeFd {
  fd: Promise<number>;
  /** READs using it now. */
  users: number;
  /** A read reached the end of the file: close once no READ uses it (the host page cache has the data). */
  done: boolean;
}

export class Bridge implements RawFileSystem {
  private nodes!: NodeTable;
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  private owner!: SyscallApi;
  private readonly procs = new Map<string, Promise<SyscallApi>>();
  private readonly entryTimeout: number;
  private readonly attrTimeout: number;
  private readonly negativeTimeout: number;
  /** The kernel sends no OPEN/RELEASE for files (negotiated at INIT; see BridgeOptions.noOpen). */
  private noOpen = false;
  /** Nor OPENDIR/RELEASEDIR: READDIR names the node, whose listing the bridge keeps (dirListings). */
  private noOpendir = false;
  /** Listings of directories read without OPENDIR, by node id, least recently used first. */
  private readonly dirListings = new Map<number, Promise<Handle>>();
  /** Descriptors opened for READs of nodes, by node id; Map order is least recently used first. */
  private readonly nodeFds = new Map<number, NodeFd>();
  /**
   * Sequential readers (tar, cp -r, grep -r) read the files of a directory in the order READDIRPLUS listed
   * them. nextInListing links each non-empty regular file to the next one in its directory's listing;
   * prefetched holds the first bytes of files read ahead along that chain, by node id, oldest first.
   */
  private readonly nextInListing = new Map<number, { id: number; size: number }>();
  private readonly prefetched = new Map<number, Promise<{ data: Uint8Array; eof: boolean } | null>>();
  /** The first file of each listing (it has no predecessor to follow). */
  private readonly firstInListing = new Set<number>();
  /** Whether the reader's last READ at offset 0 was in listing order (Bridge.prefetchListing). */
  private streaming = false;
  /** By directory node: its file last read from offset 0 (a reader back from a subdirectory goes on from it). */
  private readonly lastHeadIn = new Map<number, number>();
  /** Bytes a prefetch reads of each file: the host kernel's readahead window (its first READ of a file). */
  private headSize = 128 * 1024;
  /** Counts of the read-ahead across files (prefetch issued, READ answered from it, prefetch dropped), for diagnostics. */
  readonly prefetchStats = { issued: 0, hit: 0, short: 0 };

  private constructor(readonly opts: BridgeOptions) {
    this.entryTimeout = opts.entryTimeout ?? 1;
    this.attrTimeout = opts.attrTimeout ?? 1;
    this.negativeTimeout = opts.negativeTimeout ?? 1;
  }

  static async create(opts: BridgeOptions): Promise<Bridge> {
    const b = new Bridge(opts);
    b.owner = await opts.newProc({ uid: opts.ownerUid ?? 0, gid: opts.ownerGid ?? 0 });
    // The host kernel has applied the caller's umask to every mode it sends us.
    await b.owner.umask(0);
    const st = await b.owner.stat(opts.root);
    b.nodes = new NodeTable(opts.root, st.ino);
    b.procs.set(`${opts.ownerUid ?? 0}:${opts.ownerGid ?? 0}`, Promise.resolve(b.owner));
    return b;
  }

  /** Node table size and open handles, for tests and diagnostics. */
  get counts(): { nodes: number; handles: number } {
    return { nodes: this.nodes.size, handles: this.handles.size };
  }

  private proc(c: Caller): Promise<SyscallApi> {
    if (this.opts.defaultPermissions) return Promise.resolve(this.owner);
    const k = `${c.uid}:${c.gid}`;
    let p = this.procs.get(k);
    if (!p) {
      if (this.procs.size >= (this.opts.maxProcs ?? 64)) {
        // Forget the oldest caller's process (never the owner's, which is first).
        const oldest = [...this.procs.keys()][1];
        if (oldest !== undefined) this.procs.delete(oldest);
      }
      p = (async () => {
        const proc = await this.opts.newProc({ uid: c.uid, gid: c.gid });
        await proc.umask(0);
        return proc;
      })();
      p.catch(() => this.procs.delete(k));
      this.procs.set(k, p);
    }
    return p;
  }

  private node(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) throw kerr('ESTALE', `p2k: unknown node id ${id}`);
    return n;
  }

  private pathOf(id: number): string {
    const p = this.nodes.path(this.node(id));
    if (p === null) throw kerr('ENOENT');
    return p;
  }

  private childPath(parentId: number, name: string): { parent: Node; path: string } {
    const parent = this.node(parentId);
    const path = this.nodes.childPath(parent, name);
    if (path === null) throw kerr('ENOENT');
    return { parent, path };
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (!h) throw kerr('EBADF');
    return h;
  }

  /** Waits for an open still on its way; rejects with its error, every time it is asked. */
  private async ready(h: Handle): Promise<Handle> {
    if (h.pending) {
      h.fd = await h.pending;
      delete h.pending;
    }
    return h;
  }

  private attr(st: Stat): Attr {
    return {
      ino: st.ino, size: st.size, blocks: st.blocks,
      atime: st.atime.sec, atimensec: st.atime.nsec, mtime: st.mtime.sec, mtimensec: st.mtime.nsec,
      ctime: st.ctime.sec, ctimensec: st.ctime.nsec,
      mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, rdev: st.rdev, blksize: st.blksize || 4096,
    };
  }

  private entry(node: Node, st: Stat): EntryOut {
    return { nodeid: node.id, entryValid: this.entryTimeout, attrValid: this.attrTimeout, attr: this.attr(st) };
  }

  /** Looks `name` up in `parent` after it was created or linked, and counts the lookup the reply gives. */
  private async entryFor(proc: SyscallApi, parent: Node, name: string, path: string): Promise<EntryOut> {
    const st = await proc.lstat(path);
    const node = this.nodes.found(parent, name, st.ino, st.mode & S_IFMT);
    return this.entry(node, st);
  }

  /** With default_permissions one process does everything: hand a new file to the caller who made it. */
  private async giveToCaller(c: Caller, path: string): Promise<void> {
    if (!this.opts.defaultPermissions) return;
    const ownerUid = this.opts.ownerUid ?? 0;
    const ownerGid = this.opts.ownerGid ?? 0;
    if (c.uid === ownerUid && c.gid === ownerGid) return;
    const st = await this.owner.lstat(path);
    const parentSetgid = st.gid !== ownerGid; // the served kernel gave it the setgid directory's group
    await this.owner.lchown(path, c.uid, parentSetgid ? st.gid : c.gid);
  }

  /** The host kernel's readahead window was widened to `bytes`: prefetches read that much of each file (capped). */
  setReadahead(bytes: number): void {
    this.headSize = Math.min(256 * 1024, Math.max(this.headSize, bytes));
  }

  // ---- RawFileSystem ----

  init(conn: ConnInfo): void {
    this.noOpen = this.opts.noOpen === true && (conn.kernelFlags & Init.NO_OPEN_SUPPORT) !== 0;
    this.noOpendir = this.noOpen && (conn.kernelFlags & Init.NO_OPENDIR_SUPPORT) !== 0;
    this.headSize = Math.min(1024 * 1024, Math.max(4096, conn.maxReadahead));
  }

  async lookup(c: Caller, name: string): Promise<EntryOut> {
    const { parent, path } = this.childPath(c.nodeid, name);
    const proc = await this.proc(c);
    let st: Stat;
    try {
      st = await proc.lstat(path);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT' && this.negativeTimeout > 0) {
        // A negative entry: the host kernel remembers the absence for a while.
        return { nodeid: 0, entryValid: this.negativeTimeout, attrValid: 0, attr: zeroAttr() };
      }
      throw e;
    }
    const node = this.nodes.found(parent, name, st.ino, st.mode & S_IFMT);
    return this.entry(node, st);
  }

  forget(nodeid: number, nlookup: number): void {
    this.nodes.forget(nodeid, nlookup);
    const e = this.nodeFds.get(nodeid);
    if (!this.nodes.get(nodeid)) {
      this.nextInListing.delete(nodeid);
      this.prefetched.delete(nodeid);
      this.firstInListing.delete(nodeid);
      this.lastHeadIn.delete(nodeid);
      void this.dropListing(nodeid);
    }
    if (e && !this.nodes.get(nodeid)) {
      // The host kernel dropped the inode, and with it the page cache the descriptor served.
      e.done = true;
      this.dropNodeFd(nodeid, e);
    }
  }

  async getattr(c: Caller, fh: number | undefined): Promise<AttrOut> {
    const h = fh !== undefined ? this.handles.get(fh) : undefined;
    let st: Stat;
    if (h) st = await h.proc.fstat((await this.ready(h)).fd);
    else {
      const node = this.node(c.nodeid);
      const path = this.nodes.path(node);
      if (path !== null) st = await (await this.proc(c)).lstat(path);
      else {
        // A detached (unlinked but open) file: ask through any descriptor open on it.
        const found = [...this.handles.values()].find((x) => x.node === node);
        if (!found) throw kerr('ENOENT');
        const any = await this.ready(found);
        st = await any.proc.fstat(any.fd);
      }
    }
    return { attrValid: this.attrTimeout, attr: this.attr(st) };
  }

  async setattr(c: Caller, s: SetattrIn): Promise<AttrOut> {
    const proc = await this.proc(c);
    const h0 = s.valid & FATTR.FH ? this.handles.get(s.fh) : undefined;
    const h = h0 ? await this.ready(h0) : undefined;
    const path = h ? null : this.pathOf(c.nodeid);
    if (s.valid & FATTR.MODE) {
      if (h) await h.proc.fchmod(h.fd, s.mode & 0o7777);
      else await proc.chmod(path!, s.mode & 0o7777);
    }
    if (s.valid & (FATTR.UID | FATTR.GID)) {
      const cur = h ? await h.proc.fstat(h.fd) : await proc.lstat(path!);
      const uid = s.valid & FATTR.UID ? s.uid : cur.uid;
      const gid = s.valid & FATTR.GID ? s.gid : cur.gid;
      if (h) await h.proc.fchown(h.fd, uid, gid);
      else await proc.lchown(path!, uid, gid);
    }
    if (s.valid & FATTR.SIZE) {
      if (h) await h.proc.ftruncate(h.fd, s.size);
      else await proc.truncate(path!, s.size);
    }
    if (s.valid & (FATTR.ATIME | FATTR.MTIME | FATTR.ATIME_NOW | FATTR.MTIME_NOW)) {
      const a = s.valid & FATTR.ATIME_NOW ? 'now' as const : s.valid & FATTR.ATIME ? { sec: s.atime, nsec: s.atimensec } : 'omit' as const;
      const m = s.valid & FATTR.MTIME_NOW ? 'now' as const : s.valid & FATTR.MTIME ? { sec: s.mtime, nsec: s.mtimensec } : 'omit' as const;
      if (h) await h.proc.futimens(h.fd, a, m);
      else await proc.utimens(path!, a, m, AT_SYMLINK_NOFOLLOW);
    }
    const st = h ? await h.proc.fstat(h.fd) : await proc.lstat(path!);
    return { attrValid: this.attrTimeout, attr: this.attr(st) };
  }

  async readlink(c: Caller): Promise<string> {
    return (await this.proc(c)).readlink(this.pathOf(c.nodeid));
  }

  async symlink(c: Caller, name: string, target: string): Promise<EntryOut> {
    const { parent, path } = this.childPath(c.nodeid, name);
    const proc = await this.proc(c);
    await proc.symlink(target, path);
    await this.giveToCaller(c, path);
    return this.entryFor(proc, parent, name, path);
  }

  async mknod(c: Caller, name: string, mode: number, rdev: number): Promise<EntryOut> {
    const { parent, path } = this.childPath(c.nodeid, name);
    const proc = await this.proc(c);
    const fmt = mode & S_IFMT;
    if (fmt === S_IFREG || fmt === 0) {
      const fd = await proc.open(path, O_CREAT | O_EXCL | O_WRONLY, mode & 0o7777);
      await proc.close(fd);
    } else if (fmt === S_IFIFO || fmt === S_IFSOCK) {
      await proc.mknod(path, mode, rdev);
    } else {
      // Device nodes on an untrusted image are refused outright (the mount is nodev anyway).
      throw kerr('EPERM');
    }
    await this.giveToCaller(c, path);
    return this.entryFor(proc, parent, name, path);
  }

  async mkdir(c: Caller, name: string, mode: number): Promise<EntryOut> {
    const { parent, path } = this.childPath(c.nodeid, name);
    const proc = await this.proc(c);
    await proc.mkdir(path, mode & 0o7777);
    await this.giveToCaller(c, path);
    return this.entryFor(proc, parent, name, path);
  }

  async unlink(c: Caller, name: string): Promise<void> {
    const { parent, path } = this.childPath(c.nodeid, name);
    await (await this.proc(c)).unlink(path);
    this.nodes.unlinkEntry(parent, name);
  }

  async rmdir(c: Caller, name: string): Promise<void> {
    const { parent, path } = this.childPath(c.nodeid, name);
    await (await this.proc(c)).rmdir(path);
    this.nodes.unlinkEntry(parent, name);
  }

  async rename(c: Caller, name: string, newdir: number, newname: string, flags: number): Promise<void> {
    const from = this.childPath(c.nodeid, name);
    const to = this.childPath(newdir, newname);
    if (flags & ~3) throw kerr('EINVAL'); // RENAME_WHITEOUT and unknown flags
    await (await this.proc(c)).rename(from.path, to.path, flags || undefined);
    this.nodes.renamed(from.parent, name, to.parent, newname, (flags & RENAME_EXCHANGE) !== 0);
  }

  async link(c: Caller, oldnodeid: number, newname: string): Promise<EntryOut> {
    const oldPath = this.pathOf(oldnodeid);
    const { parent, path } = this.childPath(c.nodeid, newname);
    const proc = await this.proc(c);
    if (this.opts.protectedHardlinks && !this.opts.defaultPermissions && c.uid !== 0) await this.mayLink(c, proc, oldPath);
    await proc.link(oldPath, path);
    return this.entryFor(proc, parent, newname, path);
  }

  /**
   * Linux's fs.protected_hardlinks (may_linkat): only the owner, or someone who may read and write a plain
   * file, may link it. With default_permissions the host kernel applies it; without, its permission check
   * defers to us, so we apply it the way the host would.
   */
  private async mayLink(c: Caller, proc: SyscallApi, oldPath: string): Promise<void> {
    const st = await proc.lstat(oldPath);
    if (st.uid === c.uid) return;
    const fmt = st.mode & S_IFMT;
    const safe = fmt === S_IFREG && !(st.mode & 0o4000) && !((st.mode & 0o2000) && (st.mode & 0o010));
    if (safe) {
      try {
        await proc.access(oldPath, 6);
        return;
      } catch {
        // fall through to EPERM, as the host kernel answers
      }
    }
    throw kerr('EPERM');
  }

  private addHandle(proc: SyscallApi, fd: number, node: Node, dir?: DirState): number {
    const fh = this.nextFh++;
    this.handles.set(fh, dir ? { proc, fd, node, dir } : { proc, fd, node });
    return fh;
  }

  async open(c: Caller, flags: number): Promise<OpenOut> {
    const node = this.node(c.nodeid);
    const path = this.pathOf(c.nodeid);
    const proc = await this.proc(c);
    // The kernel takes ENOSYS as "never send OPEN (nor RELEASE) again" and reads with file handle 0.
    if (this.noOpen && (flags & O_ACCMODE) === O_RDONLY) throw kerr('ENOSYS');
    if (this.opts.readonly && (flags & O_ACCMODE) === O_RDONLY && (this.opts.defaultPermissions || proc === this.owner)) {
      const pending = proc.open(path, O_RDONLY);
      pending.catch(() => {}); // observed by ready()
      const fh = this.nextFh++;
      this.handles.set(fh, { proc, fd: -1, node, pending });
      return { fh, keepCache: true };
    }
    // Only the access mode: the host kernel computes append offsets and sends truncation as SETATTR.
    const fd = await proc.open(path, flags & O_ACCMODE);
    // Nothing changes the image but this mount, so cached pages stay valid across opens.
    return { fh: this.addHandle(proc, fd, node), keepCache: true };
  }

  async create(c: Caller, name: string, flags: number, mode: number): Promise<{ entry: EntryOut; open: OpenOut }> {
    const { parent, path } = this.childPath(c.nodeid, name);
    const proc = await this.proc(c);
    const fd = await proc.open(path, (flags & (O_ACCMODE | O_EXCL | O_TRUNC)) | O_CREAT, mode & 0o7777);
    try {
      await this.giveToCaller(c, path);
      const st = await proc.fstat(fd);
      const node = this.nodes.found(parent, name, st.ino, st.mode & S_IFMT);
      return { entry: this.entry(node, st), open: { fh: this.addHandle(proc, fd, node), keepCache: true } };
    } catch (e) {
      await proc.close(fd).catch(() => {});
      throw e;
    }
  }

  async read(c: Caller, fh: number, offset: number, size: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw kerr('EINVAL');
    if (this.noOpen && !this.handles.has(fh)) return this.readNode(c.nodeid, offset, size);
    const h = await this.ready(this.handle(fh));
    return (await this.preadFull(h.proc, h.fd, offset, size)).data;
  }

  /** Reads `size` bytes at `offset` or up to the end of the file: a short answer means end of file to the host. */
  private async preadFull(proc: SyscallApi, fd: number, offset: number, size: number): Promise<{ data: Uint8Array; eof: boolean }> {
    // Not zeroed: only the bytes read are sent.
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = await proc.pread(fd, got === 0 ? buf : buf.subarray(got), offset + got);
      if (n <= 0) return { data: buf.subarray(0, got), eof: true };
      got += n;
    }
    return { data: buf.subarray(0, got), eof: false };
  }

  /** READ without an OPEN: through a descriptor of the bridge's own for the node, opened by its first READ. */
  private async readNode(nodeid: number, offset: number, size: number): Promise<Uint8Array> {
    if (offset === 0) this.prefetchAfter(nodeid);
    const head = this.prefetched.get(nodeid);
    if (head) {
      const r = await head;
      if (r && (offset + size <= r.data.length || (r.eof && offset <= r.data.length))) {
        // The host kernel reads a file in growing windows (16 KiB first): each comes from the prefetched bytes,
        // which are dropped once the last of them went out (from then on the host page cache holds them).
        const end = Math.min(offset + size, r.data.length);
        if (end === r.data.length && this.prefetched.get(nodeid) === head) this.prefetched.delete(nodeid);
        this.prefetchStats.hit++;
        return r.data.subarray(offset, end);
      }
      // A failed prefetch, or a READ beyond its bytes: read as if there had been none (errors are reported by that read).
      if (!r && this.prefetched.get(nodeid) === head) this.prefetched.delete(nodeid);
      this.prefetchStats.short++;
    }
    let e = this.nodeFds.get(nodeid);
    if (!e && offset === 0) return this.openReadNode(nodeid, size);
    if (e) {
      this.nodeFds.delete(nodeid); // to the most recently used end
      this.nodeFds.set(nodeid, e);
    } else {
      const path = this.pathOf(nodeid);
      // The owner's process: the host kernel has checked the caller (default_permissions), or the caller is the owner.
      const fd = this.owner.open(path, O_RDONLY);
      fd.catch(() => {}); // observed below
      e = { fd, users: 0, done: false };
      this.nodeFds.set(nodeid, e);
      this.trimNodeFds();
    }
    e.users++;
    try {
      const r = await this.preadFull(this.owner, await e.fd, offset, size);
      if (r.eof) e.done = true;
      return r.data;
    } catch (err) {
      e.done = true; // the next READ tries afresh (an open that failed is not cached)
      throw err;
    } finally {
      e.users--;
      this.dropNodeFd(nodeid, e);
    }
  }

  /**
   * Read-ahead across files. When a READ at offset 0 follows the listing order of a directory (the first file
   * of the listing, or the file after the one last read in that directory: the reader goes through its files
   * one after another, as tar does), the files of that listing up to PREFETCH_FILES ahead that are not yet
   * waiting are opened and their first headSize bytes read now, all at once — but only when fewer than
   * PREFETCH_LOW are still waiting, so that one call covers tens of files: the reader then finds each file's
   * data waiting instead of paying two round trips to the served kernel (open, then read) per file. Reads out of order start nothing; a prefetch
   * never read is dropped (MAX_PREFETCHED) and costs only the served kernel's work.
   * Only on read-only mounts, where what was read ahead cannot change before it is asked for.
   */
  private prefetchAfter(nodeid: number): void {
    const dir = this.nodes.get(nodeid)?.links[0]?.parent.id;
    if (dir === undefined) return;
    const last = this.lastHeadIn.get(dir);
    const inOrder = this.prefetched.has(nodeid) || this.firstInListing.has(nodeid) ||
      (last !== undefined && this.nextInListing.get(last)?.id === nodeid);
    this.lastHeadIn.delete(dir);
    this.lastHeadIn.set(dir, nodeid);
    if (this.lastHeadIn.size > MAX_NODE_DIRS) this.lastHeadIn.delete(this.lastHeadIn.keys().next().value!);
    this.streaming = inOrder;
    if (!inOrder) return;
    this.prefetchRun(nodeid, false);
  }

  /**
   * The first files of a listing just sent, read ahead when the reader has been going through listings in
   * order (its last first READ of a file was in order, as tar's are): its first READ in this directory then
   * finds the data waiting too, instead of only the files after it.
   */
  private prefetchListing(first: number | undefined, subdirs: number[]): void {
    if (!this.streaming) return;
    if (first !== undefined && !this.prefetched.has(first) && !this.nodeFds.has(first)) this.prefetchRun(first, true);
    // The reader descends into the subdirectories next (depth first, in listing order): their listings too.
    for (const id of subdirs.slice(0, PREFETCH_DIRS)) {
      if (!this.dirListings.has(id) && this.nodes.get(id)) void this.listing(id).catch(() => {});
    }
  }

  /**
   * Batches, not a file at a time: while PREFETCH_LOW or more files ahead are already waiting nothing is
   * asked; then the rest of the next PREFETCH_FILES (from `from` itself when `withFirst`) in one call
   * (one round trip for tens of files).
   */
  private prefetchRun(from: number, withFirst: boolean): void {
    const batch: { id: number; path: string }[] = [];
    let waiting = 0;
    for (let i = 0, id = from; i < PREFETCH_FILES; i++) {
      if (i > 0 || !withFirst) {
        const next = this.nextInListing.get(id);
        if (next === undefined) break;
        id = next.id;
      }
      if (this.prefetched.has(id) || this.nodeFds.has(id)) {
        if (batch.length === 0 && ++waiting >= PREFETCH_LOW) return;
        continue;
      }
      const node = this.nodes.get(id);
      const path = node ? this.nodes.path(node) : null;
      if (path !== null) batch.push({ id, path });
    }
    if (batch.length === 0) return;
    // One compound call opens and reads them all (in one round trip to a kernel in another process): each
    // file up to headSize, closed by the server when read to its end, else left open for the READs after.
    const all = openReadMany(this.owner, batch.map((b) => b.path), { maxEach: this.headSize, maxTotal: PREFETCH_FILES * this.headSize })
      .then((items) => {
        items.forEach((it, k) => {
          if ('error' in it || it.fd < 0) return;
          const id = batch[k]!.id;
          if (it.n >= it.stat.size || this.nodeFds.has(id) || !this.nodes.get(id)) {
            // Read whole (its size cannot change), or a READ opened it meanwhile, or the node is gone.
            void this.owner.close(it.fd).catch(() => {});
            return;
          }
          this.nodeFds.set(id, { fd: Promise.resolve(it.fd), users: 0, done: false });
        });
        this.trimNodeFds();
        return items;
      }, () => [] as OpenReadManyItem[]);
    batch.forEach(({ id }, k) => {
      // A file the call did not reach, or one that failed, is read by its READ as if never prefetched.
      const head = all.then((items) => {
        const it = items[k];
        return it === undefined || 'error' in it ? null : { data: it.data, eof: it.fd < 0 || it.n >= it.stat.size };
      });
      this.prefetched.set(id, head);
      this.prefetchStats.issued++;
    });
    while (this.prefetched.size > MAX_PREFETCHED) this.prefetched.delete(this.prefetched.keys().next().value!);
  }

  /**
   * The first READ of a file not read ahead: open, read and (at end of file) close in one compound call; a
   * file longer than the READ stays open for the READs after it.
   */
  private async openReadNode(nodeid: number, size: number): Promise<Uint8Array> {
    const path = this.pathOf(nodeid);
    // Not zeroed: only the bytes read are sent.
    const buf = Buffer.allocUnsafe(size);
    // The owner's process: the host kernel has checked the caller (default_permissions), or the caller is the owner.
    const r = await openRead(this.owner, path, buf);
    if (r.fd >= 0) {
      if (r.n >= r.stat.size || this.nodeFds.has(nodeid) || !this.nodes.get(nodeid)) void this.owner.close(r.fd).catch(() => {});
      else {
        this.nodeFds.set(nodeid, { fd: Promise.resolve(r.fd), users: 0, done: false });
        this.trimNodeFds();
      }
    }
    return buf.subarray(0, r.n);
  }

  /** Closes a node's descriptor once it is unused and done with. */
  private dropNodeFd(nodeid: number, e: NodeFd): void {
    if (e.users > 0 || !e.done) return;
    if (this.nodeFds.get(nodeid) === e) this.nodeFds.delete(nodeid);
    // The close is not waited for: the READ's answer does not depend on it.
    e.fd.then((fd) => this.owner.close(fd)).catch(() => {});
  }

  /** Keeps at most MAX_NODE_FDS descriptors: the least recently read idle ones close. */
  private trimNodeFds(): void {
    if (this.nodeFds.size <= MAX_NODE_FDS) return;
    for (const [id, e] of this.nodeFds) {
      if (this.nodeFds.size <= MAX_NODE_FDS) break;
      if (e.users > 0) continue;
      e.done = true;
      this.dropNodeFd(id, e);
    }
  }

  async write(_c: Caller, fh: number, offset: number, data: Uint8Array): Promise<number> {
    const h = await this.ready(this.handle(fh));
    if (!Number.isSafeInteger(offset) || offset < 0) throw kerr('EFBIG');
    let done = 0;
    while (done < data.length) {
      const n = await h.proc.pwrite(h.fd, done === 0 ? data : data.subarray(done), offset + done);
      if (n <= 0) break;
      done += n;
    }
    return done;
  }

  async statfs(c: Caller): Promise<StatfsOut> {
    const s = await (await this.proc(c)).statvfs(this.opts.root);
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize, namelen: s.namemax, frsize: s.frsize || s.bsize };
  }

  async release(_c: Caller, fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (!h) return;
    this.handles.delete(fh);
    try {
      await this.ready(h);
    } catch {
      return; // it never opened
    }
    await h.proc.close(h.fd);
  }

  async releasedir(c: Caller, fh: number): Promise<void> {
    return this.release(c, fh);
  }

  // No flush(): writes go straight through to the served kernel and locks stay in the host kernel, so close(2)
  // has nothing to push; the ENOSYS answer makes the host kernel stop sending FLUSH at all.

  async fsync(_c: Caller, fh: number): Promise<void> {
    const h = await this.ready(this.handle(fh));
    await h.proc.fsync(h.fd);
  }

  async fsyncdir(c: Caller, fh: number): Promise<void> {
    if (this.noOpendir && !this.handles.has(fh)) return; // read-only: nothing to write back
    const h = this.handle(fh);
    await h.proc.fsync(h.fd).catch(async () => (await this.proc(c)).sync());
  }

  async syncfs(c: Caller): Promise<void> {
    await (await this.proc(c)).sync();
  }

  async setxattr(c: Caller, name: string, value: Uint8Array, flags: number): Promise<void> {
    refuseAcl(name);
    if (name === CAPS) delete this.node(c.nodeid).noCaps;
    // XATTR_CREATE = 1, XATTR_REPLACE = 2 (linux/xattr.h)
    await (await this.proc(c)).setxattr(this.pathOf(c.nodeid), name, value, { nofollow: true, create: (flags & 1) !== 0, replace: (flags & 2) !== 0 });
  }

  async getxattr(c: Caller, name: string): Promise<Uint8Array> {
    refuseAcl(name);
    const node = this.node(c.nodeid);
    // The host kernel asks for security.capability before every write(2); most files have none, and as the
    // only writer we know when that changes, so the absence is remembered per node.
    const caps = name === CAPS;
    if (caps && node.noCaps) throw kerr(node.noCaps);
    try {
      return await (await this.proc(c)).getxattr(this.pathOf(c.nodeid), name, { nofollow: true });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (caps && (code === 'ENODATA' || code === 'EOPNOTSUPP')) node.noCaps = code;
      throw e;
    }
  }

  async listxattr(c: Caller): Promise<string[]> {
    return (await this.proc(c)).listxattr(this.pathOf(c.nodeid), { nofollow: true });
  }

  async removexattr(c: Caller, name: string): Promise<void> {
    refuseAcl(name);
    if (name === CAPS) delete this.node(c.nodeid).noCaps;
    await (await this.proc(c)).removexattr(this.pathOf(c.nodeid), name, { nofollow: true });
  }

  async access(c: Caller, mask: number): Promise<void> {
    await (await this.proc(c)).access(this.pathOf(c.nodeid), mask);
  }

  async opendir(c: Caller): Promise<OpenOut> {
    // As for OPEN: ENOSYS makes the kernel stop sending OPENDIR and RELEASEDIR; READDIR then comes with fh 0.
    if (this.noOpendir) throw kerr('ENOSYS');
    const node = this.node(c.nodeid);
    const path = this.pathOf(c.nodeid);
    const proc = await this.proc(c);
    const fd = await proc.open(path, O_RDONLY | O_DIRECTORY);
    return { fh: this.addHandle(proc, fd, node, { path, entries: [], eof: false }) };
  }

  async readdir(c: Caller, fh: number, offset: number, out: DirBuffer, plus: boolean): Promise<void> {
    if (!this.noOpendir || this.handles.has(fh)) return this.fillDir(this.handle(fh), offset, out, plus);
    const h = await this.listing(c.nodeid);
    const run = (h.queue ?? Promise.resolve()).then(() => this.fillDir(h, offset, out, plus));
    h.queue = run.catch(() => {});
    try {
      await run;
      const d = h.dir!;
      if (plus && d.eof) {
        const first = d.firstFile;
        const subdirs = d.subdirs ?? [];
        delete d.firstFile;
        delete d.subdirs;
        this.prefetchListing(first, subdirs);
      }
    } catch (e) {
      void this.dropListing(c.nodeid); // the next READDIR starts afresh (a corrupt directory answers again)
      throw e;
    } finally {
      if (h.dir!.eof && h.fd >= 0) {
        // Every entry is read: the listing stays, the descriptor goes (a read-only directory cannot change).
        const fd = h.fd;
        h.fd = -1;
        void h.proc.close(fd).catch(() => {});
      }
    }
  }

  /** The listing of a directory read without OPENDIR: opened by its first READDIR, shared by all its readers. */
  private listing(nodeid: number): Promise<Handle> {
    let p = this.dirListings.get(nodeid);
    if (p) {
      this.dirListings.delete(nodeid);
      this.dirListings.set(nodeid, p);
      return p;
    }
    const node = this.node(nodeid);
    const path = this.pathOf(nodeid);
    // The whole listing with its entries' attributes in one call (one round trip to a kernel in another
    // process, instead of open, getdents until the end, lstats, close). path null in DirState: no rewind
    // needed, the listing of a read-only directory never changes.
    p = readdirPlus(this.owner, path).then(
      ({ entries, stats }): Handle => {
        if (entries.length > MAX_DIR_ENTRIES) throw kerr('EIO', 'p2k: directory too large');
        const up = node.links[0]?.parent.ino ?? node.ino;
        const list = [{ name: '.', ino: node.ino, type: DT.dir }, { name: '..', ino: up, type: DT.dir }];
        for (const e of entries) list.push({ name: e.name, ino: e.ino, type: DT[e.type] ?? 0 });
        return { proc: this.owner, fd: -1, node, dir: { path: null, entries: list, eof: true, plus: stats } };
      },
      // A listing too large for one reply (or any failure): read incrementally, getdents batch by batch,
      // which also reports the directory's own error when there is one.
      () => this.owner.open(path, O_RDONLY | O_DIRECTORY).then((fd): Handle => ({ proc: this.owner, fd, node, dir: { path: null, entries: [], eof: false } })),
    );
    p.catch(() => { if (this.dirListings.get(nodeid) === p) this.dirListings.delete(nodeid); });
    this.dirListings.set(nodeid, p);
    while (this.dirListings.size > MAX_NODE_DIRS) void this.dropListing(this.dirListings.keys().next().value!);
    return p;
  }

  private dropListing(nodeid: number): Promise<void> {
    const p = this.dirListings.get(nodeid);
    if (!p) return Promise.resolve();
    this.dirListings.delete(nodeid);
    // After the READDIRs using it (its queue), close the descriptor if it is still open.
    return p.then(async (h) => {
      await h.queue;
      if (h.fd >= 0) {
        const fd = h.fd;
        h.fd = -1;
        await h.proc.close(fd);
      }
    }).catch(() => {});
  }

  private async fillDir(h: Handle, offset: number, out: DirBuffer, plus: boolean): Promise<void> {
    const d = h.dir;
    if (!d) throw kerr('ENOTDIR');
    if (offset === 0 && d.entries.length > 2 && d.path !== null) {
      // rewinddir(3): read the directory afresh.
      const fd = await h.proc.open(d.path, O_RDONLY | O_DIRECTORY);
      await h.proc.close(h.fd).catch(() => {});
      h.fd = fd;
      d.entries = [];
      d.eof = false;
      delete d.lastFile;
    }
    if (d.entries.length === 0) {
      // The node's inode number, not an fstat (a round trip before the first entry); getdents corrects both.
      const up = h.node.links[0]?.parent.ino ?? h.node.ino;
      d.entries.push({ name: '.', ino: h.node.ino, type: DT.dir }, { name: '..', ino: up, type: DT.dir });
    }
    if (!Number.isSafeInteger(offset) || offset < 0) throw kerr('EINVAL');
    const enc = new TextEncoder();
    const prefetch = new Map<number, Promise<Stat | null>>();
    for (let i = offset; ; i++) {
      while (i >= d.entries.length && !d.eof) {
        const batch = await h.proc.getdents(h.fd, DIRENT_BATCH);
        if (batch.length === 0) d.eof = true;
        for (const e of batch) {
          if (e.name === '..') d.entries[1]!.ino = e.ino;
          if (e.name === '.') d.entries[0]!.ino = e.ino;
          if (e.name === '.' || e.name === '..') continue;
          if (d.entries.length >= MAX_DIR_ENTRIES) throw kerr('EIO', 'p2k: directory too large');
          d.entries.push({ name: e.name, ino: e.ino, type: DT[e.type] ?? 0 });
        }
      }
      if (i >= d.entries.length) return;
      const e = d.entries[i]!;
      if (!out.fits(enc.encode(e.name).length)) return;
      if (!plus || i < 2) {
        out.add(e.name, e.ino, e.type, i + 1);
        continue;
      }
      // READDIRPLUS: the entry's attributes, and one lookup counted on its node when the record is sent.
      // The entries that may still fit take the attributes that came with the listing, and the others are
      // stat'ed in one lstatMany: against a kernel in another process one request for them all, not one each.
      if (!prefetch.has(i)) {
        const room = Math.ceil((out.size - out.length) / (P_ENTRY_RECORD + 16));
        const js: number[] = [];
        const paths: string[] = [];
        for (let j = i; j < Math.min(d.entries.length, i + Math.max(1, Math.min(room, 128))); j++) {
          const kn = d.plus?.[j - 2];
          const path = kn === undefined ? this.nodes.childPath(h.node, d.entries[j]!.name) : null;
          if (kn !== undefined) prefetch.set(j, Promise.resolve(kn));
          else if (path === null) prefetch.set(j, Promise.resolve(null));
          else {
            js.push(j);
            paths.push(path);
          }
        }
        const all = paths.length > 0 ? lstatMany(h.proc, paths).catch(() => null) : Promise.resolve(null);
        js.forEach((j, k) => prefetch.set(j, all.then((sts) => {
          const st = sts?.[k];
          return st === undefined || st instanceof KernelError ? null : st;
        })));
      }
      const st = await prefetch.get(i)!;
      if (!st || !out.fits(enc.encode(e.name).length)) {
        if (!out.add(e.name, e.ino, e.type, i + 1)) return;
        continue;
      }
      const node = this.nodes.found(h.node, e.name, st.ino, st.mode & S_IFMT);
      out.add(e.name, st.ino, (st.mode & S_IFMT) >>> 12, i + 1, this.entry(node, st));
      if ((st.mode & S_IFMT) === S_IFDIR && d.plus !== undefined) (d.subdirs ??= []).push(node.id);
      if (this.noOpen && (st.mode & S_IFMT) === S_IFREG && st.size > 0 && node.id !== d.lastFile) {
        // The host kernel sends no READ for an empty file, so the chain skips those.
        if (d.lastFile !== undefined) this.nextInListing.set(d.lastFile, { id: node.id, size: st.size });
        else {
          this.firstInListing.add(node.id);
          d.firstFile = node.id;
        }
        d.lastFile = node.id;
      }
    }
  }

  async destroy(): Promise<void> {
    await this.owner.sync().catch(() => {});
  }

  /** Closes every descriptor still open in the served kernel (before it is halted). */
  async closeAll(): Promise<void> {
    this.prefetched.clear();
    await Promise.all([...this.dirListings.keys()].map((id) => this.dropListing(id)));
    for (const [id, e] of this.nodeFds) {
      this.nodeFds.delete(id);
      await e.fd.then((fd) => this.owner.close(fd)).catch(() => {});
    }
    for (const [fh, h] of this.handles) {
      this.handles.delete(fh);
      if (h.pending) await this.ready(h).catch(() => {});
      if (h.fd >= 0) await h.proc.close(h.fd).catch(() => {});
    }
  }
}

/**
 * POSIX ACLs travel as the xattrs system.posix_acl_access/default. Our drivers do not enforce ACLs, so storing
 * one would be a lie: tools such as cp -a would then skip chmod, believing the ACL carried the mode. Refusing
 * them (EOPNOTSUPP) makes those tools fall back to plain modes, as on a file system mounted with noacl.
 */
function refuseAcl(name: string): void {
  if (name === 'system.posix_acl_access' || name === 'system.posix_acl_default') throw kerr('EOPNOTSUPP');
}

function zeroAttr(): Attr {
  return { ino: 0, size: 0, blocks: 0, atime: 0, atimensec: 0, mtime: 0, mtimensec: 0, ctime: 0, ctimensec: 0, mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0 };
}

