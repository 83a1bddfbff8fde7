/**
 * The FFS driver proper: a mounted file system (NetBSD's ufsmount + ffs_vfsops)
 * and its in-memory inodes (struct inode + ffs/ufs vnodeops), UFS1 and UFS2,
 * either byte order, read and write.
 *
 * I/O: metadata (cg blocks, inode blocks, indirect blocks) goes through the
 * buffer cache; file and directory contents go straight to the device in
 * whole runs of contiguous blocks. A directory's contents are loaded once
 * into the inode and parsed into a name map; changes write back the 512-byte
 * chunks they touch. Frees invalidate cached copies of the freed space.
 *
 * Locking: none of our own. The VFS's per-mount rw-lock serialises every
 * mutation against everything else; concurrent readers may load one
 * directory twice (harmless: same bytes) and share in-flight inode loads.
 *
 * Consistency: an operation takes space from the maps (alloc.ts) before the
 * inode points into it, and sets up the inode before a directory entry names
 * it, so a failure part-way (ENOSPC) leaves at worst leaked space, never a
 * pointer to free space. On disk there is no ordering: file and directory
 * contents are written at once, metadata at sync, so a crash between syncs
 * needs the checker (as FFS without soft updates or WAPBL). Not written: WAPBL logs (a pending log forces read-only),
 * snapshots, quotas, soft-updates dependencies, FreeBSD's metadata check
 * hashes, old-format (4.2BSD) UFS1.
 */

import { kerr } from '../../kern/error.js';
import { BufCache } from '../../vfs/bio.js';
import type {
  BlockDevice, DirEntry, FsMount, KernelServices, NewNode, SetAttr, StatVfs, Timespec, Vattr, VnodeImpl, VnodeKey, VType,
} from '../../vfs/types.js';
import { S_IFMT, VTYPE_TO_IFMT, ifmtToVType } from '../../vfs/types.js';
import { Allocator } from './alloc.js';
import { FsGeom } from './geom.js';
import {
  DINODE1, DINODE2, DIRECT, DIRBLKSIZ, NDADDR, NIADDR, UFS_ROOTINO, SUPERBLOCK, FS_ISCLEAN, FS_44INODEFMT,
  SHORTLINK_OFF_UFS1, SHORTLINK_OFF_UFS2, directSize, DT_DIR, DT_REG, DT_LNK, DT_CHR, DT_BLK, DT_FIFO, DT_SOCK, DT_UNKNOWN,
  UFS_MAXNAMLEN, NXADDR, EXTATTR, CG, EXTATTR_NAMESPACE_USER, EXTATTR_NAMESPACE_SYSTEM,
} from './layout.js';

/** Largest directory loaded whole into memory. */
const MAX_DIR_BYTES = 256 * 1024 * 1024;
/** Largest single device transfer for file data. */
const MAX_RUN_BYTES = 4 * 1024 * 1024;
/** LINK_MAX of FFS (ufs's LINK_MAX is 32767). */
const FFS_LINK_MAX = 32767;

const DT_OF: Record<VType, number> = { reg: DT_REG, dir: DT_DIR, lnk: DT_LNK, chr: DT_CHR, blk: DT_BLK, fifo: DT_FIFO, sock: DT_SOCK };
const VT_OF = new Map<number, VType>([[DT_REG, 'reg'], [DT_DIR, 'dir'], [DT_LNK, 'lnk'], [DT_CHR, 'chr'], [DT_BLK, 'blk'], [DT_FIFO, 'fifo'], [DT_SOCK, 'sock']]);

const utf8 = new TextDecoder('utf-8');
const utf8enc = new TextEncoder();

interface DirSlot {
  ino: number;
  type: number;
  /** Byte offset of the entry in the directory. */
  off: number;
}

/** The in-memory inode fields we use (both dinode formats decode into this). */
export interface DinodeFields {
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  blocks: number;
  atime: number; atimensec: number;
  mtime: number; mtimensec: number;
  ctime: number; ctimensec: number;
  birthtime: number; birthnsec: number;
  db: number[];
  ib: number[];
  flags: number;
  gen: number;
  extsize: number;
  extb: number[];
}

export function decodeDinode(g: FsGeom, bytes: Uint8Array, at: number): DinodeFields {
  if (g.ufs2) {
    const d = DINODE2.decode(bytes, at, g.le);
    return { ...d };
  }
  const d = DINODE1.decode(bytes, at, g.le);
  return { ...d, birthtime: 0, birthnsec: 0, extsize: 0, extb: [0, 0] };
}

export function encodeDinode(g: FsGeom, bytes: Uint8Array, at: number, f: DinodeFields): void {
  if (g.ufs2) DINODE2.encode(bytes, at, g.le, f);
  else DINODE1.encode(bytes, at, g.le, { ...f, blocks: f.blocks >>> 0 });
}

export class FfsMount implements FsMount {
  readonly rootKey = UFS_ROOTINO;
  readonly nameMax = UFS_MAXNAMLEN;
  readonly maxFileSize: number;
  readonly bio: BufCache;
  readonly alloc: Allocator;
  /** Live inodes by number (the kernel's vnode cache holds the Vnodes; this keeps one object per inode). */
  private readonly inodes = new Map<number, FfsNode>();
  private sbDirty = false;
  /** Blocks replayed from a WAPBL log, by frag address: read in place of the device's copy. */
  replay: Map<number, Uint8Array> | null = null;

  constructor(
    readonly dev: BlockDevice,
    readonly g: FsGeom,
    /** The superblock's bytes, re-encoded and written at sync. */
    readonly sbRaw: Uint8Array,
    readonly ronly: boolean,
    readonly k: KernelServices,
  ) {
    this.bio = new BufCache(dev);
    this.maxFileSize = g.maxFileSize;
    this.alloc = new Allocator(g, this.bio, () => this.k.now().sec, () => {
      const b = new Uint8Array(4);
      this.k.random(b);
      return new DataView(b.buffer).getInt32(0);
    });
  }

  /** Reads `len` bytes at byte `off` (sector-aligned) from the device, applying replayed log blocks. */
  async devRead(buf: Uint8Array, off: number): Promise<void> {
    await this.dev.read(buf, off);
    if (this.replay) this.applyReplay(buf, off);
  }

  /** Overlays replayed 512-byte sectors (keyed by byte address) on what was read at `off`. */
  private applyReplay(buf: Uint8Array, off: number): void {
    const r = this.replay!;
    const put = (s: number, data: Uint8Array) => {
      const from = Math.max(s, off);
      const to = Math.min(s + data.length, off + buf.length);
      if (to > from) buf.set(data.subarray(from - s, to - s), from - off);
    };
    if (r.size < buf.length / 512) {
      for (const [s, data] of r) put(s, data);
    } else {
      for (let s = Math.floor(off / 512) * 512; s < off + buf.length; s += 512) {
        const data = r.get(s);
        if (data) put(s, data);
      }
    }
  }

  /** Metadata block read through the cache. */
  async bread(fragAddr: number, size: number) {
    const bp = await this.bio.bread(fragAddr * this.g.fsize, size);
    if (this.replay && !(bp as { replayed?: boolean }).replayed) {
      this.applyReplay(bp.data, bp.offset);
      (bp as { replayed?: boolean }).replayed = true;
    }
    return bp;
  }

  checkAddr(addr: number, nfrags: number, what: () => string): void {
    if (!Number.isSafeInteger(addr) || addr < 0 || addr + nfrags > this.g.size) {
      throw kerr('EIO', `ffs: ${what()}: block address ${addr} outside the file system`);
    }
  }

  async vget(key: VnodeKey): Promise<FfsNode> {
    const have = this.inodes.get(key);
    if (have) return have;
    // Concurrent loads of one inode (shared-lock lookups) share one read and one object.
    let p = this.loading.get(key);
    if (!p) {
      p = this.load(key).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  private readonly loading = new Map<number, Promise<FfsNode>>();

  private async load(key: VnodeKey): Promise<FfsNode> {
    if (!Number.isSafeInteger(key) || key < UFS_ROOTINO || key >= this.g.maxino) throw kerr('ESTALE', `ffs: inode ${key} out of range`);
    const d = await this.readDinode(key);
    if (d.mode === 0 || ifmtToVType(d.mode) === undefined) throw kerr('ENOENT', `ffs: inode ${key} is not in use`);
    const n = new FfsNode(this, key, d);
    this.inodes.set(key, n);
    return n;
  }

  async readDinode(ino: number): Promise<DinodeFields> {
    const g = this.g;
    if (g.ufs2) {
      // Inodes past cg_initediblk were never initialised: whatever the block holds, they are free.
      const cbp = await this.bread(g.cgtod(g.inoToCg(ino)), g.cgbytes);
      const inited = new DataView(cbp.data.buffer, cbp.data.byteOffset).getInt32(CG.offsetOf('initediblk'), g.le);
      this.bio.brelse(cbp);
      if (ino % g.ipg >= inited) return decodeDinode(g, new Uint8Array(g.isize), 0);
    }
    const bp = await this.bread(g.inoToFsba(ino), g.bsize);
    try {
      return decodeDinode(g, bp.data, g.inoToFsbo(ino) * g.isize);
    } finally {
      this.bio.brelse(bp);
    }
  }

  async writeDinode(ino: number, f: DinodeFields, fresh = false): Promise<void> {
    const g = this.g;
    const bp = await this.bread(g.inoToFsba(ino), g.bsize);
    const at = g.inoToFsbo(ino) * g.isize;
    if (fresh) {
      const gen = decodeDinode(g, bp.data, at).gen;
      bp.data.fill(0, at, at + g.isize);
      f.gen = gen + 1;
    }
    encodeDinode(g, bp.data, at, f);
    this.bio.bdwrite(bp);
  }

  /** Short-symlink bytes live where the block pointers are. */
  async writeShortlink(ino: number, target: Uint8Array): Promise<void> {
    const g = this.g;
    const bp = await this.bread(g.inoToFsba(ino), g.bsize);
    const at = g.inoToFsbo(ino) * g.isize + (g.ufs2 ? SHORTLINK_OFF_UFS2 : SHORTLINK_OFF_UFS1);
    bp.data.fill(0, at, at + g.maxsymlinklen);
    bp.data.set(target, at);
    this.bio.bdwrite(bp);
  }

  async readShortlink(ino: number, len: number): Promise<Uint8Array> {
    const g = this.g;
    const bp = await this.bread(g.inoToFsba(ino), g.bsize);
    try {
      const at = g.inoToFsbo(ino) * g.isize + (g.ufs2 ? SHORTLINK_OFF_UFS2 : SHORTLINK_OFF_UFS1);
      return bp.data.slice(at, at + len);
    } finally {
      this.bio.brelse(bp);
    }
  }

  adopt(n: FfsNode): FfsNode {
    this.inodes.set(n.key, n);
    return n;
  }

  forget(ino: number): void {
    this.inodes.delete(ino);
  }

  markSbDirty(): void {
    this.sbDirty = true;
  }

  async statvfs(): Promise<StatVfs> {
    const g = this.g;
    const t = this.alloc.total;
    const bfree = t.nbfree * g.frag + t.nffree;
    const reserve = Math.floor((g.dsize * g.sb.minfree) / 100);
    return {
      bsize: g.bsize,
      frsize: g.fsize,
      blocks: g.dsize,
      bfree,
      bavail: Math.max(0, bfree - reserve),
      files: g.maxino - UFS_ROOTINO,
      ffree: t.nifree,
      favail: t.nifree,
      fsid: (g.sb.id[0]! ^ g.sb.id[1]!) >>> 0,
      namemax: UFS_MAXNAMLEN,
    };
  }

  /** Writes the superblock and the summary area with the current totals. */
  async writeSuper(clean: boolean): Promise<void> {
    const g = this.g;
    const t = this.alloc.total;
    const now = this.k.now().sec;
    const upd: Parameters<typeof SUPERBLOCK.encode>[3] = {
      clean: clean ? FS_ISCLEAN : 0,
      fmod: 0,
      ronly: 0,
      time: now,
      cs_ndir: t.ndir,
      cs_nbfree: t.nbfree,
      cs_nifree: t.nifree,
      cs_nffree: t.nffree,
    };
    if (!g.ufs2) {
      Object.assign(upd, { old_time: now, old_cs_ndir: t.ndir, old_cs_nbfree: t.nbfree, old_cs_nifree: t.nifree, old_cs_nffree: t.nffree });
    }
    SUPERBLOCK.encode(this.sbRaw, 0, g.le, upd);
    await this.dev.write(this.alloc.encodeSummary(), g.csaddr * g.fsize);
    await this.dev.write(this.sbRaw, g.sbloc);
    this.sbDirty = false;
  }

  /**
   * What a failed I/O left unwritten, written again at the next sync or fsync: directory chunks (written at
   * once, not through the buffer cache; a directory whose size covers a chunk never written cannot be read
   * at all, every name in it lost), and inodes whose save failed or never came (their block map may have
   * moved a fragment, whose old place is free: the inode on disk must not keep pointing there).
   */
  readonly unwrittenDirs = new Set<FfsNode>();

  async writeUnwrittenDirs(): Promise<void> {
    for (const n of [...this.unwrittenDirs]) await n.flushUnwritten();
  }

  async sync(): Promise<void> {
    if (this.ronly) return;
    await this.writeUnwrittenDirs();
    await this.bio.flush();
    await this.writeSuper(false);
    await this.dev.flush();
  }

  async unmount(): Promise<void> {
    if (this.ronly) return;
    await this.writeUnwrittenDirs();
    await this.bio.flush();
    await this.writeSuper(true);
    await this.dev.flush();
  }
}

/** One in-memory inode (NetBSD's struct inode) and its vnode operations. */
export class FfsNode implements VnodeImpl {
  readonly type: VType;
  /** Parsed directory: name -> slot (only for directories, loaded on first use). */
  private dirMap: Map<string, DirSlot> | null = null;
  private dirData: Uint8Array | null = null;
  /** Largest free space in each 512-byte chunk, so adding a name looks at one chunk, not the whole directory. */
  private dirSlack: number[] = [];
  /** Offsets of this directory's chunks whose write failed, to be written again (FfsMount.unwrittenDirs). */
  private unwritten: Set<number> | null = null;
  /** The inode changed in memory and its save failed or did not come: saved again (FfsMount.unwrittenDirs). */
  private unsaved = false;

  constructor(
    readonly m: FfsMount,
    readonly key: number,
    public d: DinodeFields,
  ) {
    this.type = ifmtToVType(d.mode)!;
    if (!Number.isSafeInteger(d.size) || d.size < 0) throw kerr('EIO', `ffs: inode ${key}: bad size ${d.size}`);
  }

  private get g(): FsGeom {
    return this.m.g;
  }

  getattr(): Vattr {
    const d = this.d;
    const a: Vattr = {
      type: this.type,
      mode: d.mode & 0o7777,
      nlink: d.nlink,
      uid: d.uid,
      gid: d.gid,
      size: d.size,
      blocks: d.blocks,
      blksize: this.g.bsize,
      ino: this.key,
      rdev: this.type === 'chr' || this.type === 'blk' ? (this.g.ufs2 ? Number(BigInt.asUintN(32, BigInt(d.db[0]!))) : d.db[0]! >>> 0) : 0,
      atime: { sec: d.atime, nsec: d.atimensec },
      mtime: { sec: d.mtime, nsec: d.mtimensec },
      ctime: { sec: d.ctime, nsec: d.ctimensec },
    };
    if (this.g.ufs2) a.birthtime = { sec: d.birthtime, nsec: d.birthnsec };
    return a;
  }

  /** A symlink whose target lives in the inode's block-pointer area (di_shortlink). */
  private get isShortLink(): boolean {
    const g = this.g;
    return this.type === 'lnk' && (this.d.size < g.maxsymlinklen || (g.maxsymlinklen === 0 && this.d.blocks === 0));
  }

  private async save(): Promise<void> {
    // A short symlink's target occupies db/ib: those fields are not written over it.
    const f = this.isShortLink && this.d.mode !== 0 ? ({ ...this.d, db: undefined, ib: undefined } as unknown as DinodeFields) : this.d;
    try {
      await this.m.writeDinode(this.key, f);
    } catch (e) {
      this.unsaved = true;
      this.m.unwrittenDirs.add(this);
      throw e;
    }
    this.unsaved = false;
  }

  /* ---- block map ---- */

  private readPtr(data: Uint8Array, i: number): number {
    const dv = new DataView(data.buffer, data.byteOffset);
    if (!this.g.ufs2) return dv.getInt32(i * 4, this.g.le);
    // A signed 64-bit pointer from its halves (as layout.ts's getv): no BigInt per block.
    const le = this.g.le;
    return dv.getInt32(i * 8 + (le ? 4 : 0), le) * 4294967296 + dv.getUint32(i * 8 + (le ? 0 : 4), le);
  }

  private writePtr(data: Uint8Array, i: number, v: number): void {
    const dv = new DataView(data.buffer, data.byteOffset);
    if (this.g.ufs2) dv.setBigInt64(i * 8, BigInt(v), this.g.le);
    else dv.setInt32(i * 4, v, this.g.le);
  }

  /** Indirection path to logical block `lbn`: level (0 = direct) and the index at each level. */
  private path(lbn: number): { level: number; idx: number[] } {
    if (lbn < NDADDR) return { level: 0, idx: [lbn] };
    const n = this.g.nindir;
    let l = lbn - NDADDR;
    let span = 1;
    for (let level = 1; level <= NIADDR; level++) {
      span *= n;
      if (l < span) {
        const idx: number[] = [];
        let s = span;
        for (let k = 0; k < level; k++) {
          s /= n;
          idx.push(Math.floor(l / s) % n);
        }
        return { level, idx };
      }
      l -= span;
    }
    throw kerr('EFBIG', `ffs: block ${lbn} beyond the triple-indirect range`);
  }

  /** Frag address of logical block `lbn`, 0 for a hole. */
  async bmap(lbn: number): Promise<number> {
    const { level, idx } = this.path(lbn);
    if (level === 0) {
      const a = this.d.db[lbn]!;
      this.m.checkAddr(a, 1, () => `inode ${this.key} block ${lbn}`);
      return a;
    }
    let addr = this.d.ib[level - 1]!;
    for (let k = 0; k < level; k++) {
      if (addr === 0) return 0;
      this.m.checkAddr(addr, this.g.frag, () => `inode ${this.key} indirect block`);
      const bp = await this.m.bread(addr, this.g.bsize);
      addr = this.readPtr(bp.data, idx[k]!);
      this.m.bio.brelse(bp);
    }
    this.m.checkAddr(addr, 1, () => `inode ${this.key} block ${lbn}`);
    return addr;
  }

  /* ---- data ---- */

  async read(buf: Uint8Array, offset: number): Promise<number> {
    if (this.type === 'dir' || this.type === 'lnk' || this.type === 'reg') return this.readData(buf, offset);
    throw kerr('EOPNOTSUPP', 'ffs: read of a special file');
  }

  /** Reads file contents, coalescing physically contiguous blocks into one device transfer. */
  async readData(buf: Uint8Array, offset: number): Promise<number> {
    const size = this.d.size;
    if (offset >= size || buf.length === 0) return 0;
    const n = Math.min(buf.length, size - offset);
    const g = this.g;
    let pos = offset;
    const end = offset + n;
    while (pos < end) {
      const lbn = Math.floor(pos / g.bsize);
      const boff = pos - lbn * g.bsize;
      const addr = await this.bmap(lbn);
      let runEnd = Math.min(end, (lbn + 1) * g.bsize);
      if (addr === 0) {
        buf.fill(0, pos - offset, runEnd - offset);
        pos = runEnd;
        continue;
      }
      // Extend the run over following blocks that sit right after this one on disk.
      let next = lbn + 1;
      let expect = addr + g.frag;
      while (runEnd < end && runEnd - pos < MAX_RUN_BYTES) {
        const a = await this.bmap(next);
        if (a !== expect) break;
        runEnd = Math.min(end, (next + 1) * g.bsize);
        next++;
        expect += g.frag;
      }
      const devOff = addr * g.fsize + boff;
      const len = runEnd - pos;
      this.m.checkAddr(addr, Math.ceil((boff + len) / g.fsize), () => `inode ${this.key} data`);
      const dst = buf.subarray(pos - offset, pos - offset + len);
      if (devOff % 512 === 0 && len % 512 === 0) await this.m.devRead(dst, devOff);
      else {
        const s = Math.floor(devOff / 512) * 512;
        const e = Math.ceil((devOff + len) / 512) * 512;
        const tmp = new Uint8Array(e - s);
        await this.m.devRead(tmp, s);
        dst.set(tmp.subarray(devOff - s, devOff - s + len));
      }
      pos = runEnd;
    }
    return n;
  }

  /** Writes `data` at byte `devOff` of the device, read-modify-writing partial sectors. */
  private async devWrite(data: Uint8Array, devOff: number): Promise<void> {
    if (devOff % 512 === 0 && data.length % 512 === 0) {
      await this.m.dev.write(data, devOff);
      return;
    }
    const s = Math.floor(devOff / 512) * 512;
    const e = Math.ceil((devOff + data.length) / 512) * 512;
    const tmp = new Uint8Array(e - s);
    await this.m.dev.read(tmp, s);
    tmp.set(data, devOff - s);
    await this.m.dev.write(tmp, s);
  }

  private addBlocks(frags: number): void {
    this.d.blocks += (frags * this.g.fsize) / 512;
  }

  private blkpref(lbn: number): number {
    // Next to the previous block when there is one, else the inode's own group.
    if (lbn > 0 && lbn <= NDADDR) {
      const prev = this.d.db[lbn - 1]!;
      if (prev > 0) return prev + this.g.frag;
    }
    return 0;
  }

  /**
   * Where the data block `lbn` at slot `indx` of its indirect block should go (ffs_blkpref): after the
   * previous block, except every fs_maxbpg blocks, when a large file moves on to the next group with at
   * least the average free space, so one file does not fill a group.
   */
  private indirPref(lbn: number, indx: number, prev: number): number {
    const g = this.g;
    const maxbpg = g.sb.maxbpg > 0 ? g.sb.maxbpg : g.nindir;
    if (indx % maxbpg !== 0 && prev > 0) return prev + g.frag;
    const home = g.inoToCg(this.key);
    if (lbn < NDADDR + g.nindir) return g.cgbase(home) + g.frag;
    const start = (prev > 0 && indx > 0 ? g.dtog(prev) + 1 : home + Math.floor(lbn / maxbpg)) % g.ncg;
    const cs = this.m.alloc.cs;
    const avg = this.m.alloc.total.nbfree / g.ncg;
    for (let i = 0; i < g.ncg; i++) {
      const c = (start + i) % g.ncg;
      if (cs[c]!.nbfree >= avg) return g.cgbase(c) + g.frag;
    }
    return 0;
  }

  /**
   * Makes logical block `lbn` hold at least `nsize` bytes (a fragment run for a
   * direct tail block, a full block otherwise), growing or moving a tail fragment
   * as ffs_realloccg does. Returns the frag address and whether the space is new
   * (its old contents must not be trusted beyond `validBytes`).
   */
  private async balloc(lbn: number, nsize: number): Promise<{ addr: number; validBytes: number }> {
    const g = this.g;
    const cg = g.inoToCg(this.key);
    if (lbn < NDADDR) {
      const old = this.d.db[lbn]!;
      const osize = old === 0 ? 0 : g.blksize(this.d.size, lbn);
      const nfr = Math.ceil(nsize / g.fsize);
      if (old !== 0 && osize >= nsize) return { addr: old, validBytes: osize };
      if (old !== 0) {
        const ofr = osize / g.fsize;
        if (await this.m.alloc.extend(old, ofr, nfr)) {
          this.addBlocks(nfr - ofr);
          return { addr: old, validBytes: osize };
        }
        const na = await this.m.alloc.alloc(old, cg, nfr);
        const tmp = new Uint8Array(osize);
        await this.m.devRead(tmp, old * g.fsize);
        await this.m.dev.write(tmp, na * g.fsize);
        await this.m.alloc.free(old, ofr);
        this.d.db[lbn] = na;
        this.addBlocks(nfr - ofr);
        return { addr: na, validBytes: osize };
      }
      const na = await this.m.alloc.alloc(this.blkpref(lbn), cg, nfr);
      this.d.db[lbn] = na;
      this.addBlocks(nfr);
      return { addr: na, validBytes: 0 };
    }
    const { level, idx } = this.path(lbn);
    // Every block this may take (missing indirect blocks and the data block) must be there first:
    // running out half-way would leave an indirect block past the end of the file.
    if (this.m.alloc.total.nbfree < level + 1 && (await this.bmap(lbn)) === 0) {
      throw kerr('ENOSPC', 'ffs: file system full');
    }
    let ind = this.d.ib[level - 1]!;
    if (ind === 0) {
      ind = await this.m.alloc.alloc(0, cg, g.frag);
      const bp = await this.m.bio.getblk(ind * g.fsize, g.bsize);
      bp.data.fill(0);
      this.m.bio.bdwrite(bp);
      this.d.ib[level - 1] = ind;
      this.addBlocks(g.frag);
    }
    let prevData = 0;
    for (let k = 0; k < level; k++) {
      this.m.checkAddr(ind, g.frag, () => `inode ${this.key} indirect block`);
      const bp = await this.m.bread(ind, g.bsize);
      let a = this.readPtr(bp.data, idx[k]!);
      if (a === 0) {
        const last = k === level - 1;
        if (last && idx[k]! > 0) prevData = this.readPtr(bp.data, idx[k]! - 1);
        const pref = last ? this.indirPref(lbn, idx[k]!, prevData) : ind + g.frag;
        a = await this.m.alloc.alloc(pref, cg, g.frag);
        this.writePtr(bp.data, idx[k]!, a);
        this.m.bio.bdwrite(bp);
        this.addBlocks(g.frag);
        if (!last) {
          const nb = await this.m.bio.getblk(a * g.fsize, g.bsize);
          nb.data.fill(0);
          this.m.bio.bdwrite(nb);
        } else return { addr: a, validBytes: 0 };
      } else {
        this.m.bio.brelse(bp);
        if (k === level - 1) {
          this.m.checkAddr(a, g.frag, () => `inode ${this.key} block ${lbn}`);
          return { addr: a, validBytes: g.bsize };
        }
      }
      ind = a;
    }
    throw kerr('EIO', `ffs: inode ${this.key}: block map walk failed`);
  }

  async write(buf: Uint8Array, offset: number, time: Timespec): Promise<number> {
    if (this.type !== 'reg') throw kerr('EOPNOTSUPP', 'ffs: write to a non-regular file');
    try {
      await this.writeData(buf, offset);
    } finally {
      // Also after a failure part-way (ENOSPC): the inode then describes what was written.
      this.d.mtime = this.d.ctime = time.sec;
      this.d.mtimensec = this.d.ctimensec = time.nsec;
      await this.save();
    }
    return buf.length;
  }

  /** Writes file contents, allocating as needed; updates size and block count (the caller saves the inode). */
  async writeData(buf: Uint8Array, offset: number): Promise<void> {
    const g = this.g;
    const end = offset + buf.length;
    if (end > this.m.maxFileSize) throw kerr('EFBIG', 'ffs: file too large');
    if (buf.length === 0) return;
    // A tail fragment below a block being written past it becomes a full block first (ffs_balloc);
    // the file then ends on that block's boundary, which keeps the inode consistent if a later step fails.
    const oldSize = this.d.size;
    if (oldSize > 0) {
      const lastLbn = Math.floor((oldSize - 1) / g.bsize);
      const cur = g.blksize(oldSize, lastLbn);
      if (lastLbn < NDADDR && Math.floor(offset / g.bsize) > lastLbn && cur < g.bsize && this.d.db[lastLbn] !== 0) {
        const { addr } = await this.balloc(lastLbn, g.bsize);
        await this.m.dev.write(new Uint8Array(g.bsize - cur), addr * g.fsize + cur);
        this.d.size = (lastLbn + 1) * g.bsize;
      }
    }
    let runDev = 0;
    let runBuf = 0;
    let runLen = 0;
    const flushRun = async () => {
      if (runLen === 0) return;
      const n = runLen;
      runLen = 0;
      await this.m.dev.write(buf.subarray(runBuf, runBuf + n), runDev);
    };
    try {
      let pos = offset;
      while (pos < end) {
        const lbn = Math.floor(pos / g.bsize);
        const boff = pos - lbn * g.bsize;
        const chunkEnd = Math.min(end, (lbn + 1) * g.bsize);
        const newEnd = Math.max(this.d.size, chunkEnd);
        // Bytes this block must hold: up to the new end of file when it is the last direct block.
        const need = lbn >= NDADDR || newEnd > (lbn + 1) * g.bsize ? g.bsize : g.fragroundup(newEnd - lbn * g.bsize);
        const { addr, validBytes } = await this.balloc(lbn, need);
        // The size covers the space just allocated at once, so the inode never holds blocks past its end.
        if (chunkEnd > this.d.size) this.d.size = chunkEnd;
        const data = buf.subarray(pos - offset, chunkEnd - offset);
        const at = addr * g.fsize;
        if (boff === 0 && data.length === need && (validBytes === 0 || validBytes >= need)) {
          // Whole blocks: gathered into one device write while they lie end to end on disk.
          const bOff = pos - offset;
          if (runLen > 0 && runDev + runLen === at && runBuf + runLen === bOff && runLen < MAX_RUN_BYTES) runLen += data.length;
          else {
            await flushRun();
            runDev = at;
            runBuf = bOff;
            runLen = data.length;
          }
        } else if (validBytes >= boff + data.length) {
          await flushRun();
          await this.devWrite(data, at + boff);
        } else {
          await flushRun();
          // New or grown space: what was valid, zeros, and the data, written as one piece.
          const blk = new Uint8Array(need);
          if (validBytes > 0) await this.m.devRead(blk.subarray(0, Math.min(validBytes, need)), at);
          blk.set(data, boff);
          await this.m.dev.write(blk, at);
        }
        pos = chunkEnd;
        if (chunkEnd > this.d.size) this.d.size = chunkEnd;
      }
    } finally {
      // Whatever was gathered is written, also when a later block could not be allocated.
      await flushRun();
    }
  }

  /** Frees blocks past `nsize` and shortens the tail fragment (ffs_truncate). */
  async truncate(nsize: number): Promise<void> {
    const g = this.g;
    const osize = this.d.size;
    if (nsize >= osize) {
      if (nsize > osize) {
        // Extend: the block holding the last byte is allocated, as NetBSD's ufs_truncate does.
        await this.writeData(new Uint8Array(1), nsize - 1);
      }
      return;
    }
    if (this.type === 'lnk' && this.d.blocks === 0) {
      this.d.size = nsize;
      return;
    }
    const keep = Math.ceil(nsize / g.bsize); // blocks kept
    // Zero the tail of the new last block so a later extension reads zeros.
    if (nsize % g.bsize !== 0) {
      const lbn = keep - 1;
      const a = await this.bmap(lbn);
      if (a !== 0) {
        const from = nsize - lbn * g.bsize;
        // A direct tail block shrinks to whole frags; a block under an indirect one stays whole.
        const to = lbn >= NDADDR ? g.bsize : Math.min(g.blksize(osize, lbn), g.fragroundup(from));
        if (to > from) await this.devWrite(new Uint8Array(to - from), a * g.fsize + from);
      }
    }
    // Direct blocks.
    for (let lbn = NDADDR - 1; lbn >= 0; lbn--) {
      const a = this.d.db[lbn]!;
      if (a === 0) continue;
      const ob = g.blksize(osize, lbn);
      if (lbn >= keep) {
        await this.m.alloc.free(a, ob / g.fsize);
        this.d.db[lbn] = 0;
        this.addBlocks(-ob / g.fsize);
      } else if (lbn === keep - 1) {
        const nb = g.blksize(nsize, lbn);
        if (nb < ob) {
          await this.m.alloc.free(a + nb / g.fsize, (ob - nb) / g.fsize);
          this.addBlocks(-(ob - nb) / g.fsize);
        }
      }
    }
    // Indirect trees.
    let base = NDADDR;
    let span = 1;
    for (let level = 1; level <= NIADDR; level++) {
      span *= g.nindir;
      const a = this.d.ib[level - 1]!;
      if (a !== 0) {
        if (await this.truncInd(a, level, base, span, keep)) {
          this.d.ib[level - 1] = 0;
        }
      }
      base += span;
    }
    this.d.size = nsize;
  }

  /** Frees the part of an indirect tree covering blocks >= keep; returns whether the indirect block itself was freed. */
  private async truncInd(addr: number, level: number, base: number, span: number, keep: number): Promise<boolean> {
    const g = this.g;
    if (keep >= base + span) return false;
    this.m.checkAddr(addr, g.frag, () => `inode ${this.key} indirect block`);
    const bp = await this.m.bread(addr, g.bsize);
    const sub = span / g.nindir;
    let changed = false;
    let any = false;
    try {
      for (let i = 0; i < g.nindir; i++) {
        const a = this.readPtr(bp.data, i);
        if (a === 0) continue;
        const b = base + i * sub;
        if (level === 1) {
          if (b >= keep) {
            await this.m.alloc.free(a, g.frag);
            this.addBlocks(-g.frag);
            this.writePtr(bp.data, i, 0);
            changed = true;
          } else any = true;
        } else if (b + sub > keep) {
          if (await this.truncInd(a, level - 1, b, sub, keep)) {
            this.writePtr(bp.data, i, 0);
            changed = true;
          } else any = true;
        } else any = true;
      }
    } finally {
      if (changed) this.m.bio.bdwrite(bp);
      else this.m.bio.brelse(bp);
    }
    if (!any && keep <= base) {
      await this.m.alloc.free(addr, g.frag);
      this.addBlocks(-g.frag);
      return true;
    }
    return false;
  }

  async setattr(attr: SetAttr): Promise<void> {
    const d = this.d;
    if (attr.size !== undefined) {
      if (this.type === 'dir') throw kerr('EISDIR', 'ffs: truncate of a directory');
      if (this.type !== 'reg') throw kerr('EINVAL', 'ffs: truncate of a special file');
      if (attr.size > this.m.maxFileSize) throw kerr('EFBIG', 'ffs: file too large');
      await this.truncateSaving(attr.size);
      if (attr.mtime === undefined) {
        const t = attr.ctime ?? this.m.k.now();
        d.mtime = t.sec;
        d.mtimensec = t.nsec;
      }
    }
    if (attr.mode !== undefined) d.mode = (d.mode & S_IFMT) | (attr.mode & 0o7777);
    if (attr.uid !== undefined) d.uid = attr.uid;
    if (attr.gid !== undefined) d.gid = attr.gid;
    if (attr.atime) {
      d.atime = attr.atime.sec;
      d.atimensec = attr.atime.nsec;
    }
    if (attr.mtime) {
      d.mtime = attr.mtime.sec;
      d.mtimensec = attr.mtime.nsec;
    }
    // ctime moves with any change but a bare access-time update (the VFS marking a read).
    const onlyAtime = attr.atime !== undefined && attr.mtime === undefined && attr.mode === undefined && attr.uid === undefined &&
      attr.gid === undefined && attr.size === undefined;
    if (attr.ctime || !onlyAtime) {
      const c = attr.ctime ?? this.m.k.now();
      d.ctime = c.sec;
      d.ctimensec = c.nsec;
    }
    await this.save();
  }

  async readlink(): Promise<string> {
    if (this.type !== 'lnk') throw kerr('EINVAL', 'ffs: not a symlink');
    const size = this.d.size;
    if (size > 65536) throw kerr('EIO', `ffs: inode ${this.key}: symlink of ${size} bytes`);
    const g = this.g;
    if (this.isShortLink) {
      const b = await this.m.readShortlink(this.key, Math.min(size, g.ufs2 ? 120 : 60));
      return utf8.decode(b);
    }
    const b = new Uint8Array(size);
    await this.readData(b, 0);
    return utf8.decode(b);
  }

  /* ---- extended attributes (UFS2 extattr area, read only) ---- */

  /** The attributes of the extattr area, by "user.name"/"system.name". */
  private async readExtattrs(): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const g = this.g;
    const size = this.d.extsize;
    if (!g.ufs2 || size <= 0) return out;
    if (size > NXADDR * g.bsize) throw kerr('EIO', `ffs: inode ${this.key}: extended-attribute area of ${size} bytes`);
    const area = new Uint8Array(size);
    for (let i = 0; i * g.bsize < size; i++) {
      const a = this.d.extb[i]!;
      const n = Math.min(g.bsize, size - i * g.bsize);
      if (a === 0) continue;
      this.m.checkAddr(a, g.numfrags(n), () => `inode ${this.key} extattr block ${i}`);
      const chunk = new Uint8Array(g.fragroundup(n));
      await this.m.devRead(chunk, a * g.fsize);
      area.set(chunk.subarray(0, n), i * g.bsize);
    }
    for (let off = 0; off + EXTATTR.size <= size; ) {
      const e = EXTATTR.decode(area, off, g.le);
      const base = Math.ceil((EXTATTR.size + e.namelength) / 8) * 8;
      if (e.length < base + e.contentpadlen || e.length % 8 !== 0 || off + e.length > size) {
        throw kerr('EIO', `ffs: inode ${this.key}: bad extended attribute at ${off} (length ${e.length})`);
      }
      const ns = e.namespace === EXTATTR_NAMESPACE_USER ? 'user' : e.namespace === EXTATTR_NAMESPACE_SYSTEM ? 'system' : null;
      if (ns && e.namelength > 0) {
        const name = `${ns}.${utf8.decode(area.subarray(off + EXTATTR.size, off + EXTATTR.size + e.namelength))}`;
        out.set(name, area.slice(off + base, off + e.length - e.contentpadlen));
      }
      off += e.length;
    }
    return out;
  }

  async getxattr(name: string): Promise<Uint8Array | null> {
    return (await this.readExtattrs()).get(name) ?? null;
  }

  async listxattr(): Promise<string[]> {
    return [...(await this.readExtattrs()).keys()];
  }

  async fsync(): Promise<void> {
    await this.m.writeUnwrittenDirs();
    await this.m.bio.flush();
  }

  async inactive(): Promise<void> {
    if (this.d.nlink > 0 || this.m.ronly) return;
    const isDir = this.type === 'dir';
    if (!this.isShortLink) await this.truncateSaving(0);
    // The extended-attribute area goes with the inode.
    if (this.g.ufs2 && this.d.extsize > 0) {
      for (let i = 0; i < NXADDR; i++) {
        const a = this.d.extb[i]!;
        const n = Math.min(this.g.bsize, this.d.extsize - i * this.g.bsize);
        if (a !== 0 && n > 0) {
          await this.m.alloc.free(a, this.g.numfrags(n));
          this.addBlocks(-this.g.numfrags(n));
        }
      }
      this.d.extb = [0, 0];
      this.d.extsize = 0;
    }
    this.d.size = 0;
    this.d.mode = 0;
    this.d.db.fill(0);
    this.d.ib.fill(0);
    this.d.blocks = 0;
    await this.save();
    // Nothing of it is written again: its number may be given to another inode.
    this.unwritten = null;
    this.m.unwrittenDirs.delete(this);
    await this.m.alloc.ifree(this.key, isDir);
    this.m.forget(this.key);
  }

  /**
   * truncate(), and when it fails part-way the inode is saved as it then is: blocks it freed may be given to
   * another file, and the inode on disk must not go on claiming them.
   */
  private async truncateSaving(size: number): Promise<void> {
    try {
      await this.truncate(size);
    } catch (e) {
      await this.save().catch(() => undefined);
      throw e;
    }
  }

  async reclaim(): Promise<void> {
    // The last chance for what a failed write left unwritten: a later vnode of this inode reads the disk.
    await this.flushUnwritten().catch(() => undefined);
    this.unwritten = null;
    this.unsaved = false;
    this.m.unwrittenDirs.delete(this);
    this.m.forget(this.key);
  }

  /* ---- directories ---- */

  private async loadDir(): Promise<Map<string, DirSlot>> {
    if (this.dirMap) return this.dirMap;
    if (this.type !== 'dir') throw kerr('ENOTDIR');
    const size = this.d.size;
    if (size > MAX_DIR_BYTES) throw kerr('EIO', `ffs: directory ${this.key} of ${size} bytes`);
    if (size % DIRBLKSIZ !== 0) throw kerr('EIO', `ffs: directory ${this.key}: size ${size} is not a multiple of ${DIRBLKSIZ}`);
    // A directory has no holes: its size cannot exceed the storage it holds (a cap before allocating).
    if (size > this.d.blocks * 512) throw kerr('EIO', `ffs: directory ${this.key}: size ${size} beyond its ${this.d.blocks} sectors`);
    const data = new Uint8Array(size);
    await this.readData(data, 0);
    const map = new Map<string, DirSlot>();
    for (let c = 0; c < size; c += DIRBLKSIZ) {
      let off = c;
      while (off < c + DIRBLKSIZ) {
        const e = this.parseEntry(data, off, c);
        if (e.ino !== 0 && !map.has(e.name)) map.set(e.name, { ino: e.ino, type: e.type, off });
        off += e.reclen;
      }
    }
    this.dirData = data;
    this.dirMap = map;
    this.dirSlack = [];
    for (let c = 0; c < size; c += DIRBLKSIZ) this.dirSlack.push(this.chunkSlack(c));
    return map;
  }

  /** The largest entry that fits in chunk `c` (parsed before, so well-formed). */
  private chunkSlack(c: number): number {
    const data = this.dirData!;
    let best = 0;
    for (let off = c; off < c + DIRBLKSIZ; ) {
      const e = this.parseEntry(data, off, c, false);
      const free = e.ino === 0 ? e.reclen : e.reclen - directSize(e.namlen);
      if (free > best) best = free;
      off += e.reclen;
    }
    return best;
  }

  private parseEntry(data: Uint8Array, off: number, chunk: number, withName = true): { ino: number; reclen: number; type: number; namlen: number; name: string } {
    const room = chunk + DIRBLKSIZ - off;
    if (room < 8 || off + 8 > data.length) throw kerr('EIO', `ffs: directory ${this.key}: bad entry at ${off} (no room for a header)`);
    // struct direct's header read in place (DIRECT's layout: ino u32, reclen u16, type u8, namlen u8):
    // this runs for every entry of every directory listed.
    const le = this.g.le;
    const e = {
      ino: (le ? data[off]! | (data[off + 1]! << 8) | (data[off + 2]! << 16) | (data[off + 3]! << 24) : (data[off]! << 24) | (data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!) >>> 0,
      reclen: le ? data[off + 4]! | (data[off + 5]! << 8) : (data[off + 4]! << 8) | data[off + 5]!,
    };
    let namlen = data[off + 7]!;
    let type = data[off + 6]!;
    if (!this.g.ufs2 && this.g.sb.old_inodefmt < FS_44INODEFMT) {
      // 4.2BSD directories (ODIRECT): a 16-bit name length and no type byte.
      namlen = le ? data[off + 6]! | (data[off + 7]! << 8) : (data[off + 6]! << 8) | data[off + 7]!;
      type = DT_UNKNOWN;
    }
    if (e.reclen < 8 || e.reclen > room || e.reclen % 4 !== 0 || (e.ino !== 0 && directSize(namlen) > e.reclen)) {
      throw kerr('EIO', `ffs: directory ${this.key}: bad entry at ${off} (reclen ${e.reclen}, namlen ${namlen})`);
    }
    if (e.ino !== 0 && (e.ino >= this.g.maxino || namlen === 0)) throw kerr('EIO', `ffs: directory ${this.key}: bad entry at ${off} (inode ${e.ino})`);
    const name = e.ino === 0 || !withName ? '' : utf8.decode(data.subarray(off + 8, off + 8 + namlen));
    return { ino: e.ino, reclen: e.reclen, type, namlen, name };
  }

  async lookup(name: string): Promise<VnodeKey | null> {
    const map = await this.loadDir();
    const s = map.get(name);
    return s ? s.ino : null;
  }

  async readdir(cookie: number, max: number): Promise<DirEntry[]> {
    await this.loadDir();
    const data = this.dirData!;
    const out: DirEntry[] = [];
    if (!Number.isSafeInteger(cookie) || cookie < 0) throw kerr('EINVAL', 'ffs: bad directory cookie');
    // A cookie may fall inside a record that absorbed a removed entry since: resume at the first
    // entry boundary at or after it, found by walking its chunk from the start.
    let off = cookie - (cookie % DIRBLKSIZ);
    while (off < cookie && off < data.length) off += this.parseEntry(data, off, off - (off % DIRBLKSIZ), false).reclen;
    while (off < data.length && out.length < max) {
      const chunk = off - (off % DIRBLKSIZ);
      const e = this.parseEntry(data, off, chunk);
      const next = off + e.reclen;
      if (e.ino !== 0) {
        const de: DirEntry = { name: e.name, key: e.ino, next };
        const t = VT_OF.get(e.type);
        if (t) de.type = t;
        out.push(de);
      }
      off = next;
    }
    return out;
  }

  /** Writes back the directory bytes [from, to) (whole 512-byte chunks); chunks whose write fails are kept to be written again. */
  private async flushDir(from: number, to: number): Promise<void> {
    const s = from - (from % DIRBLKSIZ);
    const e = Math.ceil(to / DIRBLKSIZ) * DIRBLKSIZ;
    const data = this.dirData!;
    const growing = e > this.d.size;
    try {
      if (growing) {
        // Growing: through the allocating write path.
        await this.writeData(data.subarray(this.d.size, e), this.d.size);
      }
      const upto = Math.min(e, this.d.size);
      const g = this.g;
      for (let pos = s; pos < upto; ) {
        const lbn = Math.floor(pos / g.bsize);
        const a = await this.bmap(lbn);
        if (a === 0) throw kerr('EIO', `ffs: directory ${this.key}: hole at ${pos}`);
        const stop = Math.min(upto, (lbn + 1) * g.bsize);
        await this.devWrite(data.subarray(pos, stop), a * g.fsize + (pos - lbn * g.bsize));
        pos = stop;
      }
    } catch (err) {
      this.unwritten ??= new Set();
      for (let c = s; c < e; c += DIRBLKSIZ) this.unwritten.add(c);
      // Growing may have moved the directory's fragment (its old place is free now) before the write failed:
      // every chunk goes to the new place, and the inode is saved now (and again, if this fails).
      if (growing) for (let c = 0; c < data.length; c += DIRBLKSIZ) this.unwritten.add(c);
      this.unsaved = true;
      this.m.unwrittenDirs.add(this);
      await this.save().catch(() => undefined);
      throw err;
    }
    if (this.unwritten) {
      for (let c = s; c < e; c += DIRBLKSIZ) this.unwritten.delete(c);
      if (this.unwritten.size === 0) {
        this.unwritten = null;
        this.m.unwrittenDirs.delete(this);
      }
    }
  }

  /** Writes the chunks whose write failed (a directory removed meanwhile has none left) and the inode if unsaved. */
  async flushUnwritten(): Promise<void> {
    const chunks = this.unwritten;
    const data = this.dirData;
    if (chunks && data && this.d.nlink > 0) {
      for (const c of [...chunks].sort((a, b) => a - b)) {
        if (c + DIRBLKSIZ > data.length) chunks.delete(c);
        else await this.flushDir(c, c + DIRBLKSIZ);
      }
    }
    this.unwritten = null;
    if (this.unsaved) await this.save();
    this.m.unwrittenDirs.delete(this);
  }

  private encodeEntry(off: number, ino: number, reclen: number, type: number, nameBytes: Uint8Array): void {
    const data = this.dirData!;
    DIRECT.encode(data, off, this.g.le, { ino, reclen, type, namlen: nameBytes.length });
    data.fill(0, off + 8, off + directSize(nameBytes.length));
    data.set(nameBytes, off + 8);
  }

  /** Adds an entry (ufs_direnter): into slack of an existing entry, else a new 512-byte chunk. */
  private async addEntry(name: string, ino: number, type: VType): Promise<void> {
    const map = await this.loadDir();
    const nb = utf8enc.encode(name);
    if (nb.length > UFS_MAXNAMLEN) throw kerr('ENAMETOOLONG');
    if (map.has(name)) throw kerr('EEXIST');
    const need = directSize(nb.length);
    let data = this.dirData!;
    const dt = DT_OF[type];
    for (let c = 0; c < data.length; c += DIRBLKSIZ) {
      if (this.dirSlack[c / DIRBLKSIZ]! < need) continue;
      let off = c;
      while (off < c + DIRBLKSIZ) {
        const e = this.parseEntry(data, off, c, false);
        const used = e.ino === 0 ? 0 : directSize(e.namlen);
        if (e.reclen - used >= need) {
          let at: number;
          if (e.ino === 0) {
            at = off;
            this.encodeEntry(at, ino, e.reclen, dt, nb);
          } else {
            DIRECT.encode(data, off, this.g.le, { reclen: used });
            at = off + used;
            this.encodeEntry(at, ino, e.reclen - used, dt, nb);
          }
          map.set(name, { ino, type: dt, off: at });
          this.dirSlack[c / DIRBLKSIZ] = this.chunkSlack(c);
          await this.flushDir(off, at + need);
          return;
        }
        off += e.reclen;
      }
    }
    // Append a chunk.
    const at = data.length;
    if (at + DIRBLKSIZ > MAX_DIR_BYTES) throw kerr('ENOSPC', 'ffs: directory too large');
    const grown = new Uint8Array(at + DIRBLKSIZ);
    grown.set(data);
    this.dirData = data = grown;
    this.encodeEntry(at, ino, DIRBLKSIZ, dt, nb);
    map.set(name, { ino, type: dt, off: at });
    this.dirSlack.push(this.chunkSlack(at));
    await this.flushDir(at, at + DIRBLKSIZ);
  }

  /** Removes an entry (ufs_dirremove): merged into the previous entry of its chunk, or emptied when first. */
  private async removeEntry(name: string): Promise<void> {
    const map = await this.loadDir();
    const s = map.get(name);
    if (!s) throw kerr('ENOENT');
    const data = this.dirData!;
    const c = s.off - (s.off % DIRBLKSIZ);
    if (s.off === c) {
      DIRECT.encode(data, s.off, this.g.le, { ino: 0 });
    } else {
      let off = c;
      let prev = -1;
      while (off < s.off) {
        const e = this.parseEntry(data, off, c, false);
        prev = off;
        off += e.reclen;
      }
      if (off !== s.off || prev < 0) throw kerr('EIO', `ffs: directory ${this.key}: entry chain broken`);
      const pe = DIRECT.decode(data, prev, this.g.le);
      const me = DIRECT.decode(data, s.off, this.g.le);
      DIRECT.encode(data, prev, this.g.le, { reclen: pe.reclen + me.reclen });
    }
    map.delete(name);
    this.dirSlack[c / DIRBLKSIZ] = this.chunkSlack(c);
    await this.flushDir(c, c + DIRBLKSIZ);
  }

  /** Points an existing entry at another inode (rename over an existing name, '..' fix-up). */
  private async rewriteEntry(name: string, ino: number, type: VType): Promise<void> {
    const map = await this.loadDir();
    const s = map.get(name);
    if (!s) throw kerr('ENOENT');
    DIRECT.encode(this.dirData!, s.off, this.g.le, { ino, type: DT_OF[type] });
    s.ino = ino;
    s.type = DT_OF[type];
    await this.flushDir(s.off, s.off + 8);
  }

  private async isEmptyDir(): Promise<boolean> {
    const map = await this.loadDir();
    for (const n of map.keys()) if (n !== '.' && n !== '..') return false;
    return true;
  }

  private touch(time: Timespec): void {
    this.d.mtime = this.d.ctime = time.sec;
    this.d.mtimensec = this.d.ctimensec = time.nsec;
  }

  private async newInode(node: NewNode, isDir: boolean): Promise<FfsNode> {
    const ino = await this.m.alloc.ialloc(this.key, isDir);
    const t = node.time;
    const d: DinodeFields = {
      mode: VTYPE_TO_IFMT[node.type] | (node.mode & 0o7777),
      nlink: 1,
      uid: node.uid,
      gid: node.gid,
      size: 0,
      blocks: 0,
      atime: t.sec, atimensec: t.nsec,
      mtime: t.sec, mtimensec: t.nsec,
      ctime: t.sec, ctimensec: t.nsec,
      birthtime: t.sec, birthnsec: t.nsec,
      db: new Array<number>(NDADDR).fill(0),
      ib: new Array<number>(NIADDR).fill(0),
      flags: 0,
      gen: 0,
      extsize: 0,
      extb: [0, 0],
    };
    if ((node.type === 'chr' || node.type === 'blk') && node.rdev !== undefined) d.db[0] = node.rdev;
    await this.m.writeDinode(ino, d, true);
    return this.m.adopt(new FfsNode(this.m, ino, d));
  }

  async create(name: string, node: NewNode): Promise<VnodeKey> {
    const n = await this.newInode(node, false);
    await this.addEntry(name, n.key, node.type);
    this.touch(node.time);
    await this.save();
    return n.key;
  }

  async mkdir(name: string, node: NewNode): Promise<VnodeKey> {
    if (this.d.nlink >= FFS_LINK_MAX) throw kerr('EMLINK');
    const n = await this.newInode({ ...node, type: 'dir' }, true);
    n.d.nlink = 2;
    // The first chunk: '.' and '..' (ufs_mkdir's template).
    n.dirMap = new Map();
    const blk = new Uint8Array(DIRBLKSIZ);
    n.dirData = blk;
    n.encodeEntry(0, n.key, 12, DT_DIR, utf8enc.encode('.'));
    n.encodeEntry(12, this.key, DIRBLKSIZ - 12, DT_DIR, utf8enc.encode('..'));
    n.dirMap.set('.', { ino: n.key, type: DT_DIR, off: 0 });
    n.dirMap.set('..', { ino: this.key, type: DT_DIR, off: 12 });
    n.dirSlack = [DIRBLKSIZ - 12 - directSize(2)];
    await n.writeData(blk, 0);
    await n.save();
    // The new '..' links to this directory as soon as the entry is in the directory, even when writing the
    // entry fails (it stays in memory and is written later): counted first, uncounted only when it is not there.
    this.d.nlink++;
    try {
      await this.addEntry(name, n.key, 'dir');
    } catch (e) {
      if (this.dirMap?.get(name)?.ino !== n.key) this.d.nlink--;
      throw e;
    }
    this.touch(node.time);
    await this.save();
    return n.key;
  }

  async symlink(name: string, target: string, node: NewNode): Promise<VnodeKey> {
    const n = await this.newInode({ ...node, type: 'lnk' }, false);
    const tb = utf8enc.encode(target);
    if (tb.length < this.g.maxsymlinklen) {
      n.d.size = tb.length;
      await n.save();
      await this.m.writeShortlink(n.key, tb);
    } else {
      await n.writeData(tb, 0);
      await n.save();
    }
    await this.addEntry(name, n.key, 'lnk');
    this.touch(node.time);
    await this.save();
    return n.key;
  }

  async link(name: string, target: VnodeImpl, time: Timespec): Promise<void> {
    const t = target as FfsNode;
    if (t.d.nlink <= 0) throw kerr('ENOENT', 'ffs: link: the file was removed meanwhile');
    if (t.d.nlink >= FFS_LINK_MAX) throw kerr('EMLINK');
    t.d.nlink++;
    t.d.ctime = time.sec;
    t.d.ctimensec = time.nsec;
    await t.save();
    await this.addEntry(name, t.key, t.type);
    this.touch(time);
    await this.save();
  }

  async remove(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as FfsNode;
    if ((await this.loadDir()).get(name)?.ino !== n.key) throw kerr('ENOENT', `ffs: remove: '${name}' changed meanwhile`);
    await this.removeEntry(name);
    n.d.nlink--;
    n.d.ctime = time.sec;
    n.d.ctimensec = time.nsec;
    await n.save();
    this.touch(time);
    await this.save();
  }

  async rmdir(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as FfsNode;
    if ((await this.loadDir()).get(name)?.ino !== n.key) throw kerr('ENOENT', `ffs: rmdir: '${name}' changed meanwhile`);
    if (!(await n.isEmptyDir())) throw kerr('ENOTEMPTY');
    await this.removeEntry(name);
    this.d.nlink--;
    n.d.nlink = 0;
    n.d.ctime = time.sec;
    n.d.ctimensec = time.nsec;
    await n.save();
    this.touch(time);
    await this.save();
  }

  async rename(fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec): Promise<void> {
    const f = from as FfsNode;
    const td = toDir as FfsNode;
    const t = to as FfsNode | null;
    if (t === f) return;
    // The names must still be as the caller saw them: nothing is changed unless both are.
    if ((await this.loadDir()).get(fromName)?.ino !== f.key) throw kerr('ENOENT', `ffs: rename: '${fromName}' changed meanwhile`);
    const cur = (await td.loadDir()).get(toName);
    if (t ? cur?.ino !== t.key : cur !== undefined) throw kerr(t ? 'ENOENT' : 'EEXIST', `ffs: rename: '${toName}' changed meanwhile`);
    const isDir = f.type === 'dir';
    if (isDir && td !== this) await f.loadDir();
    if (t?.type === 'dir' && !(await t.isEmptyDir())) throw kerr('ENOTEMPTY');
    if (!t && isDir && td !== this && td.d.nlink >= FFS_LINK_MAX) throw kerr('EMLINK');
    // Directories are changed in memory, then written. Once the new name is in place, a failed write
    // (or inode read) does not stop the rest: names and link counts are kept in step in memory, so later
    // calls cannot free an inode that a name still points at; the first error is reported at the end.
    let failed: unknown = null;
    const step = async (fn: () => Promise<void>, done: () => boolean): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        if (!done()) throw e;
        failed ??= e;
      }
    };
    const named = (): boolean => td.dirMap?.get(toName)?.ino === f.key;
    if (t) await step(() => td.rewriteEntry(toName, f.key, f.type), named);
    else await step(() => td.addEntry(toName, f.key, f.type), named);
    try {
      await this.removeEntry(fromName);
    } catch (e) {
      if (this.dirMap?.get(fromName)?.ino !== f.key) failed ??= e;
      else {
        // The old name stays: take the new one back, so the file keeps one name.
        if (t) await td.rewriteEntry(toName, t.key, t.type);
        else await td.removeEntry(toName);
        throw e;
      }
    }
    if (t) {
      if (t.type === 'dir') {
        t.d.nlink = 0;
        td.d.nlink--;
      } else t.d.nlink--;
      t.d.ctime = time.sec;
      t.d.ctimensec = time.nsec;
      await step(() => t.save(), () => true);
    }
    if (isDir && td !== this) {
      await step(() => f.rewriteEntry('..', td.key, 'dir'), () => f.dirMap?.get('..')?.ino === td.key);
      this.d.nlink--;
      td.d.nlink++;
    }
    f.d.ctime = time.sec;
    f.d.ctimensec = time.nsec;
    await step(() => f.save(), () => true);
    this.touch(time);
    await step(() => this.save(), () => true);
    if (td !== this) {
      td.touch(time);
      await step(() => td.save(), () => true);
    }
    if (failed) throw failed;
  }
}
