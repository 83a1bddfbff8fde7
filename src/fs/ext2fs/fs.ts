/**
 * One mounted ext2/3/4 file system: superblock and group descriptors, inode
 * I/O, block and inode allocation with every counter and checksum kept right,
 * and the map from a file's logical blocks to device blocks (block maps and
 * extent trees). Directories, attributes and the vnode operations build on it.
 *
 * Metadata goes through the buffer cache (bio); file data goes to the device
 * directly in whole-run transfers. Counters in group descriptors and the
 * superblock are updated in memory and written, with their checksums, by sync().
 */

import type { BlockDevice } from '../../dev/blockdev.js';
import { kerr } from '../../kern/error.js';
import { BufCache, type Buf } from '../../vfs/bio.js';
import type { FileLayout, KernelServices } from '../../vfs/types.js';
import { crc16, crc32c, crc32cU32, crc32cU64 } from './crc.js';
import { Inode, type Extent } from './inode.js';
import {
  BG_BLOCK_UNINIT, BG_INODE_UNINIT, COMPAT, EXT2_MAGIC, EXT_HDR, EXT_IDX, EXT_INIT_MAX_LEN, EXT_LEAF, EXT_MAGIC, GD,
  IFLAG, INCOMPAT, INCOMPAT_SUPPORTED, INODE, RO_COMPAT, RO_COMPAT_WRITABLE, SB, SUPERBLOCK_OFFSET,
  type GroupDesc, type Superblock,
} from './layout.js';
import { WriteBehind } from './wback.js';

export const ROOT_INO = 2;
/** Deepest extent tree the kernel builds (EXT4_MAX_EXTENT_DEPTH). */
const MAX_EXTENT_DEPTH = 5;
/** Most pieces one layoutData answer has (a fragmented file is answered a prefix at a time). */
const LAYOUT_SEGS = 256;

export interface MapResult {
  /** First device block, 0 for a hole. */
  pblk: number;
  /** Blocks in this run (at least 1). */
  len: number;
  uninit: boolean;
}

/**
 * What a walk over on-disk structures reads: a metadata block through the buffer cache (its number; the walk
 * resumes with the held buffer and releases it), or file data from the device into a buffer.
 */
export type Need = number | { buf: Uint8Array; off: number };

/**
 * A lookup, mapping or read written once for both ways of running it: Ext2Fs.run() waits for what is not
 * in memory; runNow() answers only when nothing has to be waited for (the VFS's lookupNow, vgetNow, readNow).
 * Every check lives in the walk, so both ways check alike.
 */
export type Walk<T> = Generator<Need, T, Buf | undefined>;

/** Corrupt on-disk metadata: EFTYPE while mounting, EIO afterwards. */
export function corrupt(fs: { mounting: boolean } | null, detail: string): Error {
  return kerr(fs?.mounting ? 'EFTYPE' : 'EIO', `ext2fs: ${detail}`);
}

export interface Ext2Options {
  readonly: boolean;
  /** Verify metadata checksums (mount option `nocsum` turns it off). */
  verify: boolean;
}

export class Ext2Fs {
  mounting = true;
  readonly bio: BufCache;
  sb!: Superblock;
  sbRaw!: Uint8Array;
  bs = 0;
  blocksCount = 0;
  groupCount = 0;
  ipg = 0;
  bpg = 0;
  inodeSize = 0;
  firstIno = 11;
  descSize = 32;
  firstDataBlock = 0;
  groups: GroupDesc[] = [];
  /** Block number of the descriptor block holding each group's descriptor. */
  private gdBlock: number[] = [];
  csum = false;
  gdtCsum = false;
  seed = 0;
  hashSeed!: Uint8Array;
  hashUnsigned = false;
  filetype = false;
  extents = false;
  is64 = false;
  readonlyOnly = false;
  freeBlocks = 0;
  freeInodes = 0;
  private readonly dirtyGroups = new Set<number>();
  private sbDirty = false;
  readonly dirtyInodes = new Set<Inode>();
  /** Bitmaps changed since the last sync ('block3', 'inode0'): their descriptor checksums are stale until then. */
  private readonly touched = new Set<string>();
  /** Per group: a bit below which the block bitmap has no free block (a search hint; absent means 0). */
  private readonly lowFree: number[] = [];
  /** Cached blocks whose checksum was verified (or set by us): identity of the buffer cache's data arrays. */
  readonly verified = new WeakSet<Uint8Array>();
  /** The in-memory inode of a file that has a vnode (set by the mount), so internal updates do not race it. */
  liveInode: (ino: number) => Inode | undefined = () => undefined;

  /** Free block-sized buffers for the partial blocks of file data reads (readDataW). */
  private readonly bounces: Uint8Array[] = [];

  /** The device every read and write of this mount goes through: with write-behind when mounted read-write. */
  readonly dev: BlockDevice;

  constructor(
    dev: BlockDevice,
    readonly opts: Ext2Options,
    readonly k: KernelServices,
  ) {
    this.dev = opts.readonly || dev.readonly ? dev : new WriteBehind(dev);
    this.bio = new BufCache(this.dev, 32 * 1024 * 1024);
  }

  has(kind: 'compat' | 'incompat' | 'ro', bit: number): boolean {
    const v = kind === 'compat' ? this.sb.featureCompat : kind === 'incompat' ? this.sb.featureIncompat : this.sb.featureRoCompat;
    return (v & bit) !== 0;
  }

  // ---------------------------------------------------------------- superblock

  /** Reads and validates the superblock and group descriptors. */
  async load(): Promise<void> {
    const raw = new Uint8Array(1024);
    if (this.dev.size < SUPERBLOCK_OFFSET + 1024) throw corrupt(this, 'device too small for a superblock');
    await this.dev.read(raw, SUPERBLOCK_OFFSET);
    const dv = new DataView(raw.buffer);
    const sb = SB.decode(dv);
    if (sb.magic !== EXT2_MAGIC) throw kerr('EFTYPE', `ext2fs: bad superblock magic 0x${sb.magic.toString(16)}`);
    this.sb = sb;
    this.sbRaw = raw;
    if (sb.logBlockSize > 6) throw corrupt(this, `superblock: block size 2^${10 + sb.logBlockSize} out of range`);
    const bs = (this.bs = 1024 << sb.logBlockSize);
    this.is64 = this.has('incompat', INCOMPAT.BIT64);
    this.blocksCount = sb.blocksCountLo + (this.is64 ? sb.blocksCountHi * 0x100000000 : 0);
    this.csum = this.has('ro', RO_COMPAT.METADATA_CSUM);
    this.gdtCsum = !this.csum && this.has('ro', RO_COMPAT.GDT_CSUM);
    if (this.csum) {
      if (sb.checksumType !== 1) throw corrupt(this, `superblock: unknown checksum type ${sb.checksumType}`);
      const c = crc32c(0xffffffff, raw, 0, SB.f.checksum.off);
      if (this.opts.verify && c !== sb.checksum) {
        throw corrupt(this, `superblock: checksum 0x${sb.checksum.toString(16)} != computed 0x${c.toString(16)}`);
      }
      this.seed = this.has('incompat', INCOMPAT.CSUM_SEED) ? sb.checksumSeed : crc32c(0xffffffff, sb.uuid);
    }
    const unsupported = sb.featureIncompat & ~INCOMPAT_SUPPORTED;
    if (unsupported) throw kerr('EFTYPE', `ext2fs: unsupported incompatible features 0x${unsupported.toString(16)}`);
    if (sb.featureRoCompat & ~RO_COMPAT_WRITABLE) this.readonlyOnly = true;
    if (this.has('compat', COMPAT.ORPHAN_FILE)) this.readonlyOnly = true;
    if (sb.revLevel === 0) {
      this.inodeSize = 128;
      this.firstIno = 11;
    } else {
      this.inodeSize = sb.inodeSize;
      this.firstIno = sb.firstIno;
      if (this.inodeSize < 128 || this.inodeSize > bs || (this.inodeSize & (this.inodeSize - 1)) !== 0) {
        throw corrupt(this, `superblock: inode size ${this.inodeSize}`);
      }
    }
    this.bpg = sb.blocksPerGroup;
    this.ipg = sb.inodesPerGroup;
    this.firstDataBlock = sb.firstDataBlock;
    if (this.has('ro', RO_COMPAT.BIGALLOC)) {
      if (sb.logClusterSize !== sb.logBlockSize) this.readonlyOnly = true;
      if (sb.clustersPerGroup !== this.bpg && sb.logClusterSize !== sb.logBlockSize) {
        throw kerr('EFTYPE', 'ext2fs: bigalloc is not supported');
      }
    }
    if (this.bpg < 8 || this.bpg > bs * 8 || this.bpg % 8 !== 0) throw corrupt(this, `superblock: ${this.bpg} blocks per group`);
    if (this.ipg < 1 || this.ipg > bs * 8) throw corrupt(this, `superblock: ${this.ipg} inodes per group`);
    if (this.firstDataBlock >= this.blocksCount) throw corrupt(this, 'superblock: first data block past the end');
    if (this.blocksCount * bs > this.dev.size) {
      throw corrupt(this, `superblock: ${this.blocksCount} blocks of ${bs} bytes do not fit the device (${this.dev.size} bytes)`);
    }
    this.groupCount = Math.ceil((this.blocksCount - this.firstDataBlock) / this.bpg);
    if (this.groupCount * this.ipg !== sb.inodesCount || this.firstIno < 3 || this.firstIno > sb.inodesCount) {
      throw corrupt(this, `superblock: inode count ${sb.inodesCount} != ${this.groupCount} groups * ${this.ipg}`);
    }
    this.descSize = this.is64 ? sb.descSize : 32;
    if (this.descSize < 32 || this.descSize > 1024 || (this.descSize & (this.descSize - 1)) !== 0 || (this.is64 && this.descSize < 64)) {
      throw corrupt(this, `superblock: descriptor size ${this.descSize}`);
    }
    this.hashSeed = sb.hashSeed;
    this.hashUnsigned = (sb.flags & 2) !== 0;
    this.filetype = this.has('incompat', INCOMPAT.FILETYPE);
    this.extents = this.has('incompat', INCOMPAT.EXTENTS);
    this.freeBlocks = sb.freeBlocksLo + (this.is64 ? sb.freeBlocksHi * 0x100000000 : 0);
    this.freeInodes = sb.freeInodes;
    await this.loadGroups();
  }

  private descBlockOf(dblock: number): number {
    const perBlock = this.bs / this.descSize;
    if (!this.has('incompat', INCOMPAT.META_BG) || dblock < this.sb.firstMetaBg) return this.firstDataBlock + 1 + dblock;
    const g = dblock * perBlock;
    return this.groupFirstBlock(g) + (this.groupHasSuper(g) ? 1 : 0);
  }

  private async loadGroups(): Promise<void> {
    const perBlock = this.bs / this.descSize;
    const nblocks = Math.ceil(this.groupCount / perBlock);
    this.groups = [];
    this.gdBlock = [];
    for (let d = 0; d < nblocks; d++) {
      const blk = this.descBlockOf(d);
      if (blk >= this.blocksCount) throw corrupt(this, `group descriptor block ${blk} past the end`);
      const bp = await this.bread(blk);
      try {
        const dv = new DataView(bp.data.buffer, bp.data.byteOffset, bp.data.length);
        for (let i = 0; i < perBlock && d * perBlock + i < this.groupCount; i++) {
          const g = d * perBlock + i;
          // Descriptors shorter than the declaration are decoded from a zero-padded copy.
          const gd = this.descSize >= 64 ? GD.decode(dv, i * this.descSize) : GD.decode(padded(bp.data, i * this.descSize, this.descSize));
          if (this.descSize < 64) {
            gd.blockBitmapHi = gd.inodeBitmapHi = gd.inodeTableHi = 0;
            gd.freeBlocksHi = gd.freeInodesHi = gd.usedDirsHi = gd.itableUnusedHi = 0;
            gd.blockBitmapCsumHi = gd.inodeBitmapCsumHi = gd.excludeBitmapHi = 0;
          }
          if ((this.csum || this.gdtCsum) && this.opts.verify) {
            const c = this.gdChecksum(g, bp.data.subarray(i * this.descSize, (i + 1) * this.descSize));
            if (c !== gd.checksum) throw corrupt(this, `group descriptor ${g}: checksum 0x${gd.checksum.toString(16)} != 0x${c.toString(16)}`);
          }
          const first = this.groupFirstBlock(g);
          void first;
          for (const [what, b] of [['block bitmap', this.gdBlockBitmap(gd)], ['inode bitmap', this.gdInodeBitmap(gd)], ['inode table', this.gdInodeTable(gd)]] as const) {
            if (b < this.firstDataBlock || b >= this.blocksCount) throw corrupt(this, `group descriptor ${g}: ${what} at block ${b} outside the file system`);
          }
          if (this.gdInodeTable(gd) + Math.ceil((this.ipg * this.inodeSize) / this.bs) > this.blocksCount) {
            throw corrupt(this, `group descriptor ${g}: inode table runs past the end`);
          }
          this.groups.push(gd);
          this.gdBlock.push(blk);
        }
      } finally {
        this.bio.brelse(bp);
      }
    }
  }

  gdChecksum(g: number, raw: Uint8Array): number {
    const off = GD.f.checksum.off;
    if (this.csum) {
      let c = crc32cU32(this.seed, g);
      c = crc32c(c, raw, 0, off);
      c = crc32c(c, new Uint8Array(2));
      c = crc32c(c, raw, off + 2, this.descSize);
      return c & 0xffff;
    }
    let c = crc16(0xffff, this.sb.uuid);
    const gb = new Uint8Array(4);
    new DataView(gb.buffer).setUint32(0, g, true);
    c = crc16(c, gb);
    c = crc16(c, raw, 0, off);
    if (this.descSize > 32) c = crc16(c, raw, off + 2, this.descSize);
    return c;
  }

  gdBlockBitmap(gd: GroupDesc): number { return gd.blockBitmapLo + gd.blockBitmapHi * 0x100000000; }
  gdInodeBitmap(gd: GroupDesc): number { return gd.inodeBitmapLo + gd.inodeBitmapHi * 0x100000000; }
  gdInodeTable(gd: GroupDesc): number { return gd.inodeTableLo + gd.inodeTableHi * 0x100000000; }
  gdFreeBlocks(gd: GroupDesc): number { return gd.freeBlocksLo | (gd.freeBlocksHi << 16); }
  gdFreeInodes(gd: GroupDesc): number { return gd.freeInodesLo | (gd.freeInodesHi << 16); }
  gdUsedDirs(gd: GroupDesc): number { return gd.usedDirsLo | (gd.usedDirsHi << 16); }
  gdItableUnused(gd: GroupDesc): number { return gd.itableUnusedLo | (gd.itableUnusedHi << 16); }
  private setFreeBlocks(gd: GroupDesc, n: number): void { gd.freeBlocksLo = n & 0xffff; gd.freeBlocksHi = n >>> 16; }
  private setFreeInodes(gd: GroupDesc, n: number): void { gd.freeInodesLo = n & 0xffff; gd.freeInodesHi = n >>> 16; }
  private setUsedDirs(gd: GroupDesc, n: number): void { gd.usedDirsLo = n & 0xffff; gd.usedDirsHi = n >>> 16; }
  private setItableUnused(gd: GroupDesc, n: number): void { gd.itableUnusedLo = n & 0xffff; gd.itableUnusedHi = n >>> 16; }

  groupFirstBlock(g: number): number {
    return this.firstDataBlock + g * this.bpg;
  }

  blocksInGroup(g: number): number {
    return Math.min(this.bpg, this.blocksCount - this.groupFirstBlock(g));
  }

  /** Whether group `g` holds a superblock backup (sparse_super: 0, 1 and powers of 3, 5, 7; sparse_super2: two listed groups). */
  groupHasSuper(g: number): boolean {
    if (g === 0) return true;
    if (this.has('compat', COMPAT.SPARSE_SUPER2)) return g === this.sb.backupBgs0 || g === this.sb.backupBgs1;
    if (g <= 1 || !this.has('ro', RO_COMPAT.SPARSE_SUPER)) return true;
    if (!(g & 1)) return false;
    for (const p of [3, 5, 7]) {
      let x = p;
      while (x < g) x *= p;
      if (x === g) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- blocks

  async bread(blk: number): Promise<Buf> {
    this.checkBlockNo(blk);
    return this.bio.bread(blk * this.bs, this.bs);
  }

  private checkBlockNo(blk: number): void {
    if (!Number.isSafeInteger(blk) || blk < 0 || blk >= this.blocksCount) throw corrupt(this, `block ${blk} outside the file system`);
  }

  /** bread() inside a walk. Held: release it. */
  *breadW(blk: number): Walk<Buf> {
    this.checkBlockNo(blk);
    return (yield blk)!;
  }

  /** dev.read() of file data inside a walk. */
  *devReadW(buf: Uint8Array, off: number): Walk<void> {
    yield { buf, off };
  }

  /** Runs a walk: a block in the cache is taken at once, anything else is read (and waited for). */
  async run<T>(w: Walk<T>): Promise<T> {
    let s = w.next();
    while (!s.done) {
      const need = s.value;
      let bp: Buf | undefined;
      try {
        if (typeof need === 'number') bp = this.bio.peek(need * this.bs, this.bs) ?? (await this.bio.bread(need * this.bs, this.bs));
        else await this.dev.read(need.buf, need.off);
      } catch (e) {
        s = w.throw(e);
        continue;
      }
      s = w.next(bp);
    }
    return s.value;
  }

  /**
   * Runs a walk without waiting: its answer, or undefined as soon as it needs a block the buffer cache does
   * not hold or file data the device cannot read at once (the walk is then abandoned, releasing what it held).
   * Errors are the walk's, as with run().
   */
  runNow<T>(w: Walk<T>): T | undefined {
    let s = w.next();
    while (!s.done) {
      const need = s.value;
      let bp: Buf | undefined;
      let got: boolean;
      try {
        if (typeof need === 'number') got = (bp = this.bio.peek(need * this.bs, this.bs)) !== undefined;
        else got = this.dev.readNow?.(need.buf, need.off) ?? false;
      } catch (e) {
        s = w.throw(e);
        continue;
      }
      if (!got) {
        w.return(undefined as T);
        return undefined;
      }
      s = w.next(bp);
    }
    return s.value;
  }

  async getblk(blk: number): Promise<Buf> {
    return this.bio.getblk(blk * this.bs, this.bs);
  }

  checkBlock(blk: number, len: number, what: string): void {
    if (!Number.isSafeInteger(blk) || blk < this.firstDataBlock || len < 1 || blk + len > this.blocksCount) {
      throw corrupt(this, `${what}: block ${blk}+${len} outside the file system`);
    }
  }

  // ---------------------------------------------------------------- inodes

  private inodeLoc(ino: number): { blk: number; off: number } {
    if (!Number.isSafeInteger(ino) || ino < 1 || ino > this.sb.inodesCount) throw kerr('ESTALE', `ext2fs: inode ${ino} out of range`);
    const g = Math.floor((ino - 1) / this.ipg);
    const idx = (ino - 1) % this.ipg;
    const byte = idx * this.inodeSize;
    return { blk: this.gdInodeTable(this.groups[g]!) + Math.floor(byte / this.bs), off: byte % this.bs };
  }

  inodeSeed(ino: number, gen: number): number {
    return crc32cU32(crc32cU32(this.seed, ino), gen);
  }

  inodeChecksum(ip: Inode): number {
    const raw = ip.raw;
    const hasHi = ip.hasExtra(INODE.f.checksumHi.off + 2);
    let c = ip.csumSeed;
    const lo = INODE.f.checksumLo.off;
    c = crc32c(c, raw, 0, lo);
    c = crc32c(c, new Uint8Array(2));
    if (this.inodeSize > 128) {
      const hi = INODE.f.checksumHi.off;
      c = crc32c(c, raw, lo + 2, hi);
      c = hasHi ? crc32c(c, new Uint8Array(2)) : crc32c(c, raw, hi, hi + 2);
      c = crc32c(c, raw, hi + 2, this.inodeSize);
    } else {
      c = crc32c(c, raw, lo + 2, this.inodeSize);
    }
    return hasHi ? c : c & 0xffff;
  }

  async readInode(ino: number): Promise<Inode> {
    return this.run(this.inodeW(ino));
  }

  /** readInode() when the inode's table block is in the buffer cache; undefined otherwise. */
  readInodeNow(ino: number): Inode | undefined {
    return this.runNow(this.inodeW(ino));
  }

  private *inodeW(ino: number): Walk<Inode> {
    const { blk, off } = this.inodeLoc(ino);
    const bp = yield* this.breadW(blk);
    let ip: Inode;
    try {
      ip = new Inode(ino, this.inodeSize, bp.data.subarray(off, off + this.inodeSize), this.bs);
    } finally {
      this.bio.brelse(bp);
    }
    if (this.csum) {
      ip.csumSeed = this.inodeSeed(ino, ip.generation);
      if (this.opts.verify && !ip.raw.subarray(0, this.inodeSize).every((b) => b === 0)) {
        const want = this.inodeChecksum(ip);
        const have = ip.hasExtra(INODE.f.checksumHi.off + 2)
          ? (ip.dv.getUint16(INODE.f.checksumLo.off, true) | (ip.dv.getUint16(INODE.f.checksumHi.off, true) << 16)) >>> 0
          : ip.dv.getUint16(INODE.f.checksumLo.off, true);
        if (want !== have) throw corrupt(this, `inode ${ino}: checksum 0x${have.toString(16)} != computed 0x${want.toString(16)}`);
      }
    }
    return ip;
  }

  /** Encodes the inode, sets its checksum and puts it in its inode-table block (delayed write). */
  async writeInode(ip: Inode): Promise<void> {
    ip.encode();
    if (this.csum) {
      ip.csumSeed = this.inodeSeed(ip.ino, ip.generation);
      const c = this.inodeChecksum(ip);
      ip.dv.setUint16(INODE.f.checksumLo.off, c & 0xffff, true);
      if (ip.hasExtra(INODE.f.checksumHi.off + 2)) ip.dv.setUint16(INODE.f.checksumHi.off, c >>> 16, true);
    }
    const { blk, off } = this.inodeLoc(ip.ino);
    const bp = await this.bread(blk);
    bp.data.set(ip.raw.subarray(0, this.inodeSize), off);
    this.bio.bdwrite(bp);
    ip.dirty = false;
  }

  markDirty(ip: Inode): void {
    ip.dirty = true;
    this.dirtyInodes.add(ip);
  }

  /** Writes an inode's pending extent tree and the inode itself. */
  async flushInode(ip: Inode): Promise<void> {
    if (ip.extentsDirty) await this.writeExtentTree(ip);
    if (ip.dirty) await this.writeInode(ip);
    this.dirtyInodes.delete(ip);
  }

  // ---------------------------------------------------------------- mapping: extents

  private extentNode(data: Uint8Array, off: number, len: number, what: string, wantDepth: number | null): { entries: number; depth: number; max: number; dv: DataView; base: number } {
    const dv = new DataView(data.buffer, data.byteOffset, data.length);
    // Direct reads at the declared offsets: this runs for every mapping.
    const F = EXT_HDR.f;
    const h = {
      magic: dv.getUint16(off + F.magic.off, true), entries: dv.getUint16(off + F.entries.off, true),
      max: dv.getUint16(off + F.max.off, true), depth: dv.getUint16(off + F.depth.off, true),
    };
    if (h.magic !== EXT_MAGIC) throw corrupt(this, `${what}: bad extent header magic 0x${h.magic.toString(16)}`);
    const cap = Math.floor((len - 12) / 12);
    if (h.max > cap || h.entries > h.max) throw corrupt(this, `${what}: extent header entries ${h.entries}/max ${h.max} beyond ${cap}`);
    if (h.depth > MAX_EXTENT_DEPTH || (wantDepth !== null && h.depth !== wantDepth)) throw corrupt(this, `${what}: extent depth ${h.depth}`);
    return { entries: h.entries, depth: h.depth, max: h.max, dv, base: off + 12 };
  }

  private verifyExtentBlock(ip: Inode, blk: number, data: Uint8Array, max: number): void {
    if (!this.csum || !this.opts.verify || this.verified.has(data)) return;
    const off = 12 + 12 * max;
    if (off + 4 > data.length) return;
    const have = new DataView(data.buffer, data.byteOffset).getUint32(off, true);
    const want = crc32c(ip.csumSeed, data, 0, off);
    if (have !== want) throw corrupt(this, `inode ${ip.ino}: extent block ${blk}: checksum 0x${have.toString(16)} != 0x${want.toString(16)}`);
    this.verified.add(data);
  }

  /** Maps `lblk` through the on-disk extent tree; a hole runs up to the next extent (at most `max` blocks). */
  private *extentMapW(ip: Inode, lblk: number, max: number): Walk<MapResult> {
    let data: Uint8Array = ip.iblock;
    let node = this.extentNode(data, 0, 60, `inode ${ip.ino}`, null);
    let holeEnd = lblk + max;
    let bp: Buf | null = null;
    try {
      for (let level = 0; ; level++) {
        const { entries, dv, base } = node;
        // last entry whose first block <= lblk
        let lo = 0, hi = entries - 1, found = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          if (dv.getUint32(base + mid * 12, true) <= lblk) { found = mid; lo = mid + 1; } else hi = mid - 1;
        }
        if (found + 1 < entries) holeEnd = Math.min(holeEnd, dv.getUint32(base + (found + 1) * 12, true));
        if (node.depth === 0) {
          if (found < 0) return { pblk: 0, len: Math.max(1, holeEnd - lblk), uninit: false };
          const L = EXT_LEAF.f, at = base + found * 12;
          const e = { block: dv.getUint32(at + L.block.off, true), len: dv.getUint16(at + L.len.off, true) };
          const uninit = e.len > EXT_INIT_MAX_LEN;
          const len = uninit ? e.len - EXT_INIT_MAX_LEN : e.len;
          const start = dv.getUint32(at + L.startLo.off, true) + dv.getUint16(at + L.startHi.off, true) * 0x100000000;
          if (lblk >= e.block + len) return { pblk: 0, len: Math.max(1, holeEnd - lblk), uninit: false };
          this.checkBlock(start, len, `inode ${ip.ino}: extent at logical ${e.block}`);
          const skip = lblk - e.block;
          return { pblk: start + skip, len: Math.min(len - skip, max), uninit };
        }
        if (found < 0) return { pblk: 0, len: Math.max(1, holeEnd - lblk), uninit: false };
        const ix = EXT_IDX.decode(dv, base + found * 12);
        const child = ix.leafLo + ix.leafHi * 0x100000000;
        this.checkBlock(child, 1, `inode ${ip.ino}: extent index`);
        const next = yield* this.breadW(child);
        if (bp) this.bio.brelse(bp);
        bp = next;
        data = bp.data;
        const want = node.depth - 1;
        node = this.extentNode(data, 0, this.bs, `inode ${ip.ino}: extent block ${child}`, want);
        this.verifyExtentBlock(ip, child, data, node.max);
        if (level > MAX_EXTENT_DEPTH) throw corrupt(this, `inode ${ip.ino}: extent tree too deep`);
      }
    } finally {
      if (bp) this.bio.brelse(bp);
    }
  }

  /** Reads the whole extent tree into a flat, sorted, validated list (for modification). */
  async loadExtents(ip: Inode): Promise<Extent[]> {
    if (ip.extents) return ip.extents;
    const out: Extent[] = [];
    const tree: number[] = [];
    const root = this.extentNode(ip.iblock, 0, 60, `inode ${ip.ino}`, null);
    // Explicit stack of (node bytes, depth): depth is checked to fall by one each level, so the walk is bounded.
    const stack: { data: Uint8Array; node: ReturnType<Ext2Fs['extentNode']>; i: number }[] = [{ data: ip.iblock.slice(), node: root, i: 0 }];
    const seen = new Set<number>();
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.i >= top.node.entries) { stack.pop(); continue; }
      const at = top.node.base + top.i * 12;
      top.i++;
      if (top.node.depth === 0) {
        const e = EXT_LEAF.decode(top.node.dv, at);
        const uninit = e.len > EXT_INIT_MAX_LEN;
        const len = uninit ? e.len - EXT_INIT_MAX_LEN : e.len;
        const pblk = e.startLo + e.startHi * 0x100000000;
        if (len === 0) continue;
        this.checkBlock(pblk, len, `inode ${ip.ino}: extent at logical ${e.block}`);
        const prev = out[out.length - 1];
        if (prev && prev.lblk + prev.len > e.block) throw corrupt(this, `inode ${ip.ino}: extents out of order at logical ${e.block}`);
        out.push({ lblk: e.block, pblk, len, uninit });
      } else {
        const ix = EXT_IDX.decode(top.node.dv, at);
        const child = ix.leafLo + ix.leafHi * 0x100000000;
        this.checkBlock(child, 1, `inode ${ip.ino}: extent index`);
        if (seen.has(child)) throw corrupt(this, `inode ${ip.ino}: extent block ${child} referenced twice`);
        seen.add(child);
        tree.push(child);
        const bp = await this.bread(child);
        const data = bp.data.slice();
        this.bio.brelse(bp);
        const node = this.extentNode(data, 0, this.bs, `inode ${ip.ino}: extent block ${child}`, top.node.depth - 1);
        this.verifyExtentBlock(ip, child, data, node.max);
        stack.push({ data, node, i: 0 });
      }
    }
    ip.extents = out;
    ip.treeBlocks = tree;
    return out;
  }

  private listMap(list: Extent[], lblk: number, max: number): MapResult {
    let lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.lblk <= lblk) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const next = list[found + 1];
    const holeEnd = Math.min(lblk + max, next ? next.lblk : Infinity);
    if (found >= 0) {
      const e = list[found]!;
      if (lblk < e.lblk + e.len) {
        const skip = lblk - e.lblk;
        return { pblk: e.pblk + skip, len: Math.min(e.len - skip, max), uninit: e.uninit };
      }
    }
    return { pblk: 0, len: Math.max(1, holeEnd - lblk), uninit: false };
  }

  // ---------------------------------------------------------------- mapping: block maps

  get addrPerBlock(): number {
    return this.bs / 4;
  }

  /** Path through a block map to `lblk`: [slot in i_block, index per indirect level...]. */
  private bmapPath(lblk: number): number[] | null {
    const apb = this.addrPerBlock;
    if (lblk < 12) return [lblk];
    lblk -= 12;
    if (lblk < apb) return [12, lblk];
    lblk -= apb;
    if (lblk < apb * apb) return [13, Math.floor(lblk / apb), lblk % apb];
    lblk -= apb * apb;
    if (lblk < apb * apb * apb) return [14, Math.floor(lblk / (apb * apb)), Math.floor(lblk / apb) % apb, lblk % apb];
    return null;
  }

  private *bmapOneW(ip: Inode, lblk: number): Walk<number> {
    const path = this.bmapPath(lblk);
    if (!path) return 0;
    let blk = new DataView(ip.raw.buffer).getUint32(INODE.f.block.off + path[0]! * 4, true);
    for (let i = 1; i < path.length && blk !== 0; i++) {
      this.checkBlock(blk, 1, `inode ${ip.ino}: indirect block`);
      const bp = yield* this.breadW(blk);
      blk = new DataView(bp.data.buffer, bp.data.byteOffset).getUint32(path[i]! * 4, true);
      this.bio.brelse(bp);
    }
    if (blk !== 0) this.checkBlock(blk, 1, `inode ${ip.ino}: block map at logical ${lblk}`);
    return blk;
  }

  /** Maps `lblk` to a run of at most `max` blocks. */
  map(ip: Inode, lblk: number, max: number): Promise<MapResult> {
    return this.run(this.mapW(ip, lblk, max));
  }

  /** map() inside a walk. */
  *mapW(ip: Inode, lblk: number, max: number): Walk<MapResult> {
    if (lblk >= 0x100000000) return { pblk: 0, len: max, uninit: false };
    max = Math.max(1, Math.min(max, 0x100000000 - lblk));
    if (ip.flags & IFLAG.EXTENTS) {
      if (ip.extents) return this.listMap(ip.extents, lblk, max);
      return yield* this.extentMapW(ip, lblk, max);
    }
    const first = yield* this.bmapOneW(ip, lblk);
    let len = 1;
    const cap = Math.min(max, 1024);
    while (len < cap) {
      const b = yield* this.bmapOneW(ip, lblk + len);
      if (first === 0 ? b !== 0 : b !== first + len) break;
      len++;
    }
    return { pblk: first, len, uninit: false };
  }

  // ---------------------------------------------------------------- data

  /**
   * Reads file data (not inline) into `buf` from byte `offset`; the caller has clamped to the file size.
   * Straight from the device (through write-behind on a read-write mount, which holds back what was written
   * and not yet on the device): file data never sits in the buffer cache.
   */
  *readDataW(ip: Inode, buf: Uint8Array, offset: number): Walk<void> {
    const bs = this.bs;
    let done = 0;
    const n = buf.length;
    while (done < n) {
      const pos = offset + done;
      const lblk = Math.floor(pos / bs);
      const inblk = pos % bs;
      const m = yield* this.mapW(ip, lblk, Math.ceil((inblk + n - done) / bs));
      let run = Math.min(m.len * bs - inblk, n - done);
      if (m.pblk === 0 || m.uninit) {
        buf.fill(0, done, done + run);
      } else if (inblk === 0 && run >= bs) {
        run -= run % bs;
        yield* this.devReadW(buf.subarray(done, done + run), m.pblk * bs);
      } else {
        run = Math.min(bs - inblk, n - done);
        // The last block of nearly every file: through a reused bounce buffer (a free list, as walks of
        // several reads may be waiting at once), not an allocation per file.
        const tmp = this.bounces.pop() ?? new Uint8Array(bs);
        try {
          yield* this.devReadW(tmp, m.pblk * bs);
          buf.set(tmp.subarray(inblk, inblk + run), done);
        } finally {
          this.bounces.push(tmp);
        }
      }
      done += run;
    }
  }

  /**
   * Where readData(ip, buf of `n`, offset) reads from, in host-file terms (VnodeImpl.layout): null when
   * the device cannot say. At most LAYOUT_SEGS pieces: the answer may cover a prefix of `n`.
   */
  async layoutData(ip: Inode, n: number, offset: number): Promise<FileLayout | null> {
    const dev = this.dev;
    if (dev.hostExtent === undefined) return null;
    const bs = this.bs;
    const segs: FileLayout['segs'] = [];
    let done = 0;
    while (done < n && segs.length < LAYOUT_SEGS) {
      const pos = offset + done;
      const lblk = Math.floor(pos / bs);
      const inblk = pos % bs;
      const m = await this.map(ip, lblk, Math.ceil((inblk + n - done) / bs));
      const run = Math.min(m.len * bs - inblk, n - done);
      const last = segs[segs.length - 1];
      if (m.pblk === 0 || m.uninit) {
        if (last !== undefined && last.path === null) last.len += run;
        else segs.push({ path: null, offset: 0, len: run });
      } else {
        const at = m.pblk * bs + inblk;
        const ext = dev.hostExtent(at, run);
        if (ext === null) return null;
        if (last !== undefined && last.path === ext.path && last.offset + last.len === ext.offset) last.len += run;
        else segs.push({ path: ext.path, offset: ext.offset, len: run });
      }
      done += run;
    }
    return { n: done, segs };
  }

  // ---------------------------------------------------------------- bitmaps and allocation

  private groupOfBlock(blk: number): number {
    return Math.floor((blk - this.firstDataBlock) / this.bpg);
  }

  /** The block bitmap of group g, initialised first if the group is BLOCK_UNINIT. Held: release it. */
  private async blockBitmap(g: number): Promise<Buf> {
    const gd = this.groups[g]!;
    const blk = this.gdBlockBitmap(gd);
    if (!(gd.flags & BG_BLOCK_UNINIT) || !(this.csum || this.gdtCsum)) {
      const bp = await this.bread(blk);
      this.verifyBitmap(g, 'block', bp, this.bpg / 8, gd.blockBitmapCsumLo, gd.blockBitmapCsumHi);
      return bp;
    }
    const bp = await this.getblk(blk);
    const d = bp.data;
    d.fill(0);
    const first = this.groupFirstBlock(g);
    const set = (b: number, n = 1): void => {
      for (let i = 0; i < n; i++) {
        const r = b + i - first;
        if (r >= 0 && r < this.bpg) d[r >> 3]! |= 1 << (r & 7);
      }
    };
    for (const r of this.groupMetaRanges(g)) set(r[0], r[1]);
    for (let r = this.blocksInGroup(g); r < this.bs * 8; r++) d[r >> 3]! |= 1 << (r & 7);
    gd.flags &= ~BG_BLOCK_UNINIT;
    this.dirtyGroups.add(g);
    return bp;
  }

  /** Checks a bitmap read from disk against its descriptor's checksum (metadata_csum), once per cached copy. */
  private verifyBitmap(g: number, what: 'block' | 'inode', bp: Buf, bytes: number, lo: number, hi: number): void {
    if (!this.csum || !this.opts.verify || this.verified.has(bp.data)) return;
    const c = crc32c(this.seed, bp.data, 0, bytes);
    const want = this.descSize >= 64 ? c : c & 0xffff;
    const have = this.descSize >= 64 ? ((lo | (hi << 16)) >>> 0) : lo;
    if (want !== have && !this.touched.has(`${what}${g}`)) {
      this.bio.brelse(bp);
      throw corrupt(this, `group ${g}: ${what} bitmap checksum 0x${have.toString(16)} != 0x${want.toString(16)}`);
    }
    this.verified.add(bp.data);
  }

  /** Blocks of group g used by the superblock/descriptor copies and by group tables that live in it. */
  groupMetaRanges(g: number): [number, number][] {
    const out: [number, number][] = [];
    const first = this.groupFirstBlock(g);
    const hasSuper = this.groupHasSuper(g);
    const perBlock = this.bs / this.descSize;
    const metaBg = this.has('incompat', INCOMPAT.META_BG);
    const gdtBlocks = Math.ceil(this.groupCount / perBlock);
    if (hasSuper) out.push([first, 1]);
    if (!metaBg || Math.floor(g / perBlock) < this.sb.firstMetaBg) {
      if (hasSuper) out.push([first + 1, (metaBg ? this.sb.firstMetaBg : gdtBlocks) + this.sb.reservedGdtBlocks]);
    } else {
      const r = g % perBlock;
      if (r === 0 || r === 1 || r === perBlock - 1) out.push([first + (hasSuper ? 1 : 0), 1]);
    }
    const last = first + this.blocksInGroup(g);
    const itb = Math.ceil((this.ipg * this.inodeSize) / this.bs);
    for (const gd of this.groups) {
      for (const [b, n] of [[this.gdBlockBitmap(gd), 1], [this.gdInodeBitmap(gd), 1], [this.gdInodeTable(gd), itb]] as const) {
        if (b < last && b + n > first) out.push([b, n]);
      }
    }
    return out;
  }

  private async inodeBitmap(g: number): Promise<Buf> {
    const gd = this.groups[g]!;
    const blk = this.gdInodeBitmap(gd);
    if (!(gd.flags & BG_INODE_UNINIT) || !(this.csum || this.gdtCsum)) {
      const bp = await this.bread(blk);
      this.verifyBitmap(g, 'inode', bp, this.ipg / 8, gd.inodeBitmapCsumLo, gd.inodeBitmapCsumHi);
      return bp;
    }
    const bp = await this.getblk(blk);
    bp.data.fill(0);
    for (let r = this.ipg; r < this.bs * 8; r++) bp.data[r >> 3]! |= 1 << (r & 7);
    gd.flags &= ~BG_INODE_UNINIT;
    this.dirtyGroups.add(g);
    return bp;
  }

  /** Allocates up to `want` contiguous blocks, preferring `goal`. ENOSPC when none are free. */
  async allocBlocks(goal: number, want: number): Promise<{ start: number; len: number }> {
    if (this.freeBlocks <= 0) throw kerr('ENOSPC', 'ext2fs: no free blocks');
    if (goal < this.firstDataBlock || goal >= this.blocksCount) goal = this.firstDataBlock;
    const g0 = this.groupOfBlock(goal);
    for (let i = 0; i <= this.groupCount; i++) {
      const g = (g0 + i) % this.groupCount;
      const gd = this.groups[g]!;
      if (this.gdFreeBlocks(gd) === 0) continue;
      const bp = await this.blockBitmap(g);
      const d = bp.data;
      const nbits = this.blocksInGroup(g);
      // Below lowFree[g] every block is known in use: a search from the start of the group begins there.
      const low = Math.min(this.lowFree[g] ?? 0, nbits);
      const startBit = Math.max(i === 0 ? goal - this.groupFirstBlock(g) : 0, low);
      let bit = findZero(d, startBit, nbits);
      if (bit < 0 && startBit > low) bit = findZero(d, low, startBit);
      if (bit < 0) {
        this.bio.brelse(bp);
        continue;
      }
      let len = 0;
      while (len < want && bit + len < nbits && !(d[(bit + len) >> 3]! & (1 << ((bit + len) & 7)))) {
        d[(bit + len) >> 3]! |= 1 << ((bit + len) & 7);
        len++;
      }
      this.bio.bdwrite(bp);
      // Searched from the hint (or wrapped round to it): everything below the run is in use now.
      if (startBit === low || bit < startBit) this.lowFree[g] = bit + len;
      this.touched.add(`block${g}`);
      this.setFreeBlocks(gd, this.gdFreeBlocks(gd) - len);
      this.freeBlocks -= len;
      this.dirtyGroups.add(g);
      this.sbDirty = true;
      return { start: this.groupFirstBlock(g) + bit, len };
    }
    throw kerr('ENOSPC', 'ext2fs: no free blocks');
  }

  async freeBlockRun(start: number, len: number): Promise<void> {
    this.checkBlock(start, len, 'free');
    let b = start;
    const end = start + len;
    while (b < end) {
      const g = this.groupOfBlock(b);
      const gd = this.groups[g]!;
      const first = this.groupFirstBlock(g);
      const stop = Math.min(end, first + this.blocksInGroup(g));
      const bp = await this.blockBitmap(g);
      if (this.lowFree[g] !== undefined && b - first < this.lowFree[g]!) this.lowFree[g] = b - first;
      let freed = 0;
      for (; b < stop; b++) {
        const r = b - first;
        if (bp.data[r >> 3]! & (1 << (r & 7))) {
          bp.data[r >> 3]! &= ~(1 << (r & 7));
          freed++;
        } else {
          this.k.log(`ext2fs: freeing free block ${b}`);
        }
        // A metadata block freed here may be cached: drop it so a later data write is not overwritten.
        if (this.bio.has(b * this.bs)) await this.bio.invalidateRange(b * this.bs, this.bs);
      }
      this.bio.bdwrite(bp);
      this.touched.add(`block${g}`);
      this.setFreeBlocks(gd, this.gdFreeBlocks(gd) + freed);
      this.freeBlocks += freed;
      this.dirtyGroups.add(g);
      this.sbDirty = true;
    }
  }

  async allocInode(parent: number, isDir: boolean): Promise<number> {
    if (this.freeInodes <= 0) throw kerr('ENOSPC', 'ext2fs: no free inodes');
    let g0 = Math.floor((parent - 1) / this.ipg);
    if (isDir) {
      // Spread directories: the group with the most free inodes (and some free blocks).
      let best = -1;
      for (let g = 0; g < this.groupCount; g++) {
        const gd = this.groups[g]!;
        if (best < 0 || this.gdFreeInodes(gd) > this.gdFreeInodes(this.groups[best]!)) best = g;
      }
      if (best >= 0) g0 = best;
    }
    for (let i = 0; i < this.groupCount; i++) {
      const g = (g0 + i) % this.groupCount;
      const gd = this.groups[g]!;
      if (this.gdFreeInodes(gd) === 0) continue;
      const bp = await this.inodeBitmap(g);
      const start = g === 0 ? this.firstIno - 1 : 0;
      const bit = findZero(bp.data, start, this.ipg);
      if (bit < 0) {
        this.bio.brelse(bp);
        continue;
      }
      bp.data[bit >> 3]! |= 1 << (bit & 7);
      this.bio.bdwrite(bp);
      this.touched.add(`inode${g}`);
      this.setFreeInodes(gd, this.gdFreeInodes(gd) - 1);
      if (isDir) this.setUsedDirs(gd, this.gdUsedDirs(gd) + 1);
      if (this.csum || this.gdtCsum) {
        const unused = this.gdItableUnused(gd);
        if (bit >= this.ipg - unused) this.setItableUnused(gd, this.ipg - bit - 1);
      }
      this.freeInodes--;
      this.dirtyGroups.add(g);
      this.sbDirty = true;
      return g * this.ipg + bit + 1;
    }
    throw kerr('ENOSPC', 'ext2fs: no free inodes');
  }

  async freeInode(ino: number, isDir: boolean): Promise<void> {
    const g = Math.floor((ino - 1) / this.ipg);
    const bit = (ino - 1) % this.ipg;
    const gd = this.groups[g]!;
    const bp = await this.inodeBitmap(g);
    if (!(bp.data[bit >> 3]! & (1 << (bit & 7)))) this.k.log(`ext2fs: freeing free inode ${ino}`);
    else {
      bp.data[bit >> 3]! &= ~(1 << (bit & 7));
      this.setFreeInodes(gd, this.gdFreeInodes(gd) + 1);
      if (isDir) this.setUsedDirs(gd, Math.max(0, this.gdUsedDirs(gd) - 1));
      this.freeInodes++;
    }
    this.bio.bdwrite(bp);
    this.touched.add(`inode${g}`);
    this.dirtyGroups.add(g);
    this.sbDirty = true;
  }

  /** A fresh in-memory inode for `ino` (the caller fills it and writes it). */
  newInode(ino: number): Inode {
    const ip = new Inode(ino, this.inodeSize, new Uint8Array(this.inodeSize), this.bs);
    if (this.inodeSize > 128) ip.extraIsize = Math.max(32, this.sb.wantExtraIsize) <= this.inodeSize - 128 ? 32 : 0;
    ip.generation = this.randomU32();
    if (this.csum) ip.csumSeed = this.inodeSeed(ino, ip.generation);
    return ip;
  }

  private scratch: Uint8Array | null = null;

  /**
   * One block-sized buffer for partial-block writes of file data (the tail of nearly every file), instead of
   * a new one each time. Only writers use it, and they run under the exclusive mount lock, one at a time;
   * its contents are the caller's until its next await that reuses it.
   */
  scratchBlock(): Uint8Array {
    if (!this.scratch || this.scratch.length !== this.bs) this.scratch = new Uint8Array(this.bs);
    return this.scratch;
  }

  /** Random generation numbers drawn from the kernel in batches (one host call per 1,024 inodes, not per inode). */
  private randomPool = new Uint32Array(0);
  private randomLeft = 0;

  private randomU32(): number {
    if (this.randomLeft === 0) {
      if (this.randomPool.length === 0) this.randomPool = new Uint32Array(1024);
      this.k.random(new Uint8Array(this.randomPool.buffer));
      this.randomLeft = this.randomPool.length;
    }
    return this.randomPool[--this.randomLeft]!;
  }

  // ---------------------------------------------------------------- writing extents and block maps

  get maxFileSize(): number {
    if (this.extents) return Math.min(0xffffffff * this.bs, Number.MAX_SAFE_INTEGER);
    const apb = this.addrPerBlock;
    let n = (12 + apb + apb * apb + apb * apb * apb) * this.bs;
    if (!this.has('ro', RO_COMPAT.HUGE_FILE)) n = Math.min(n, 0xffffffff * 512 - this.bs * 4);
    if (!this.has('ro', RO_COMPAT.LARGE_FILE)) n = Math.min(n, 0x7fffffff);
    return n;
  }

  /** Sets the mapping of [lblk, lblk+len) to pblk.. in the in-memory extent list (splitting what was there). */
  setExtent(ip: Inode, e: Extent): void {
    const list = ip.extents!;
    const end = e.lblk + e.len;
    const out: Extent[] = [];
    let inserted = false;
    for (const x of list) {
      const xend = x.lblk + x.len;
      if (xend <= e.lblk || x.lblk >= end) {
        if (!inserted && x.lblk >= end) { out.push(e); inserted = true; }
        out.push(x);
        continue;
      }
      if (x.lblk < e.lblk) out.push({ lblk: x.lblk, pblk: x.pblk, len: e.lblk - x.lblk, uninit: x.uninit });
      if (!inserted) { out.push(e); inserted = true; }
      if (xend > end) out.push({ lblk: end, pblk: x.pblk + (end - x.lblk), len: xend - end, uninit: x.uninit });
    }
    if (!inserted) out.push(e);
    // merge neighbours
    const merged: Extent[] = [];
    for (const x of out) {
      const p = merged[merged.length - 1];
      const cap = x.uninit ? EXT_INIT_MAX_LEN - 1 : EXT_INIT_MAX_LEN;
      if (p && p.uninit === x.uninit && p.lblk + p.len === x.lblk && p.pblk + p.len === x.pblk && p.len + x.len <= cap) p.len += x.len;
      else merged.push({ ...x });
    }
    ip.extents = merged;
    ip.extentsDirty = true;
  }

  /** Writes the in-memory extent list as a tree of the smallest depth that holds it. */
  async writeExtentTree(ip: Inode): Promise<void> {
    const list = ip.extents!;
    if (list.length <= 4 && ip.treeBlocks.length === 0) {
      // Fits the inode (most files): the root alone, no tree blocks to take or give back.
      const ib = ip.iblock;
      ib.fill(0);
      const dv = new DataView(ib.buffer, ib.byteOffset, 60);
      const H = EXT_HDR.f, L = EXT_LEAF.f;
      dv.setUint16(H.magic.off, EXT_MAGIC, true);
      dv.setUint16(H.entries.off, list.length, true);
      dv.setUint16(H.max.off, 4, true);
      list.forEach((e, j) => {
        const at = 12 + j * 12;
        dv.setUint32(at + L.block.off, e.lblk, true);
        dv.setUint16(at + L.len.off, e.uninit ? e.len + EXT_INIT_MAX_LEN : e.len, true);
        dv.setUint16(at + L.startHi.off, Math.floor(e.pblk / 0x100000000), true);
        dv.setUint32(at + L.startLo.off, e.pblk >>> 0, true);
      });
      ip.extentsDirty = false;
      ip.dirty = true;
      this.dirtyInodes.add(ip);
      return;
    }
    const perBlock = Math.floor((this.bs - 12) / 12);
    const old = [...ip.treeBlocks];
    const before = old.length;
    const fresh: number[] = [];
    const takeBlock = async (goal: number): Promise<number> => {
      const b = old.shift();
      if (b !== undefined) return b;
      const r = await this.allocBlocks(goal, 1);
      return r.start;
    };
    const goal = list.length ? list[0]!.pblk : this.groupFirstBlock(Math.floor((ip.ino - 1) / this.ipg));
    // level 0: leaf records; above: index records {first lblk, child block}
    let level: { lblk: number; write: (dv: DataView, at: number) => void }[] = list.map((e) => ({
      lblk: e.lblk,
      write: (dv, at) => EXT_LEAF.encode({
        block: e.lblk, len: e.uninit ? e.len + EXT_INIT_MAX_LEN : e.len, startHi: Math.floor(e.pblk / 0x100000000), startLo: e.pblk >>> 0,
      }, dv, at),
    }));
    let depth = 0;
    try {
      while (level.length > 4) {
        const next: typeof level = [];
        for (let i = 0; i < level.length; i += perBlock) {
          const chunk = level.slice(i, i + perBlock);
          const blk = await takeBlock(goal);
          fresh.push(blk);
          const bp = await this.getblk(blk);
          const d = bp.data;
          d.fill(0);
          const dv = new DataView(d.buffer, d.byteOffset, d.length);
          EXT_HDR.encode({ magic: EXT_MAGIC, entries: chunk.length, max: perBlock, depth, generation: 0 }, dv, 0);
          chunk.forEach((r, j) => r.write(dv, 12 + j * 12));
          if (this.csum) dv.setUint32(12 + perBlock * 12, crc32c(ip.csumSeed, d, 0, 12 + perBlock * 12), true);
          this.bio.bdwrite(bp);
          next.push({
            lblk: chunk[0]!.lblk,
            write: (dv2, at) => EXT_IDX.encode({ block: chunk[0]!.lblk, leafLo: blk >>> 0, leafHi: Math.floor(blk / 0x100000000) }, dv2, at),
          });
        }
        level = next;
        depth++;
        if (depth > MAX_EXTENT_DEPTH) throw kerr('EFBIG', `ext2fs: inode ${ip.ino}: extent tree too deep`);
      }
    } catch (e) {
      // Blocks taken from the old tree stay with it; newly allocated ones go back.
      for (const b of fresh) if (!ip.treeBlocks.includes(b)) await this.freeBlockRun(b, 1);
      throw e;
    }
    const ib = ip.iblock;
    ib.fill(0);
    const dv = new DataView(ib.buffer, ib.byteOffset, 60);
    EXT_HDR.encode({ magic: EXT_MAGIC, entries: level.length, max: 4, depth, generation: 0 }, dv, 0);
    level.forEach((r, j) => r.write(dv, 12 + j * 12));
    // Blocks of the old tree not reused go back to the free pool.
    for (const b of old) await this.freeBlockRun(b, 1);
    ip.treeBlocks = fresh;
    ip.blocks512 += (fresh.length - before) * (this.bs / 512);
    ip.extentsDirty = false;
    ip.dirty = true;
    this.dirtyInodes.add(ip);
  }

  /** Sets block-map entry `lblk` to `pblk`, allocating indirect blocks on the way. */
  async bmapSet(ip: Inode, lblk: number, pblk: number): Promise<void> {
    const path = this.bmapPath(lblk);
    if (!path) throw kerr('EFBIG', `ext2fs: inode ${ip.ino}: block ${lblk} beyond the block map`);
    const idv = new DataView(ip.raw.buffer);
    const slotOff = INODE.f.block.off + path[0]! * 4;
    if (path.length === 1) {
      idv.setUint32(slotOff, pblk, true);
      return;
    }
    let blk = idv.getUint32(slotOff, true);
    if (blk === 0) {
      blk = await this.newZeroBlock(ip, pblk);
      idv.setUint32(slotOff, blk, true);
    }
    for (let i = 1; i < path.length; i++) {
      this.checkBlock(blk, 1, `inode ${ip.ino}: indirect block`);
      const bp = await this.bread(blk);
      const dv = new DataView(bp.data.buffer, bp.data.byteOffset, this.bs);
      if (i === path.length - 1) {
        dv.setUint32(path[i]! * 4, pblk, true);
        this.bio.bdwrite(bp);
        return;
      }
      let child = dv.getUint32(path[i]! * 4, true);
      if (child === 0) {
        try {
          child = await this.newZeroBlock(ip, blk + 1);
        } catch (e) {
          this.bio.brelse(bp);
          throw e;
        }
        dv.setUint32(path[i]! * 4, child, true);
        this.bio.bdwrite(bp);
      } else this.bio.brelse(bp);
      blk = child;
    }
  }

  private async newZeroBlock(ip: Inode, goal: number): Promise<number> {
    const { start } = await this.allocBlocks(goal, 1);
    const bp = await this.getblk(start);
    bp.data.fill(0);
    this.bio.bdwrite(bp);
    ip.blocks512 += this.bs / 512;
    return start;
  }

  /** Frees every block of a block-mapped file from logical block `from` on (and indirect blocks left empty). */
  async bmapTruncate(ip: Inode, from: number): Promise<void> {
    const idv = new DataView(ip.raw.buffer);
    const apb = this.addrPerBlock;
    const per = this.bs / 512;
    for (let i = 0; i < 12; i++) {
      const off = INODE.f.block.off + i * 4;
      const b = idv.getUint32(off, true);
      if (i >= from && b) {
        await this.freeBlockRun(b, 1);
        ip.blocks512 -= per;
        idv.setUint32(off, 0, true);
      }
    }
    // Subtree spans: single covers apb blocks, double apb^2, triple apb^3; depth is fixed by the format.
    let base = 12;
    for (let slot = 12, levels = 1; slot < 15; slot++, levels++) {
      const span = apb ** levels;
      const off = INODE.f.block.off + slot * 4;
      const b = idv.getUint32(off, true);
      if (b && from < base + span) {
        const empty = await this.truncIndirect(ip, b, levels, base, from);
        if (empty) {
          await this.freeBlockRun(b, 1);
          ip.blocks512 -= per;
          idv.setUint32(off, 0, true);
        }
      }
      base += span;
    }
  }

  /** Truncates inside one indirect block of `levels` levels covering from `base`; returns whether it is now empty. */
  private async truncIndirect(ip: Inode, blk: number, levels: number, base: number, from: number): Promise<boolean> {
    this.checkBlock(blk, 1, `inode ${ip.ino}: indirect block`);
    const apb = this.addrPerBlock;
    const childSpan = apb ** (levels - 1);
    const bp = await this.bread(blk);
    const data = bp.data.slice();
    this.bio.brelse(bp);
    const dv = new DataView(data.buffer);
    let empty = true;
    let changed = false;
    for (let i = 0; i < apb; i++) {
      const c = dv.getUint32(i * 4, true);
      if (!c) continue;
      const cbase = base + i * childSpan;
      if (cbase + childSpan <= from) { empty = false; continue; }
      let freeIt = true;
      if (levels > 1) freeIt = await this.truncIndirect(ip, c, levels - 1, cbase, from);
      if (freeIt) {
        await this.freeBlockRun(c, 1);
        ip.blocks512 -= this.bs / 512;
        dv.setUint32(i * 4, 0, true);
        changed = true;
      } else empty = false;
    }
    if (changed && !empty) {
      const wb = await this.bread(blk);
      wb.data.set(data);
      this.bio.bdwrite(wb);
    }
    return empty;
  }

  // ---------------------------------------------------------------- sync

  /** Writes dirty inodes, group descriptors and the superblock, then flushes the cache. */
  async sync(): Promise<void> {
    for (const ip of [...this.dirtyInodes]) await this.flushInode(ip);
    if (this.opts.readonly) return;
    for (const g of [...this.dirtyGroups].sort((a, b) => a - b)) await this.writeGroup(g);
    this.dirtyGroups.clear();
    this.touched.clear();
    if (this.sbDirty) await this.writeSuper();
    await this.bio.flush();
  }

  private async writeGroup(g: number): Promise<void> {
    const gd = this.groups[g]!;
    if (this.csum) {
      if (!(gd.flags & BG_BLOCK_UNINIT)) {
        const bp = await this.bread(this.gdBlockBitmap(gd));
        const c = crc32c(this.seed, bp.data, 0, this.bpg / 8);
        this.bio.brelse(bp);
        gd.blockBitmapCsumLo = c & 0xffff;
        if (this.descSize >= 64) gd.blockBitmapCsumHi = c >>> 16;
      }
      if (!(gd.flags & BG_INODE_UNINIT)) {
        const bp = await this.bread(this.gdInodeBitmap(gd));
        const c = crc32c(this.seed, bp.data, 0, this.ipg / 8);
        this.bio.brelse(bp);
        gd.inodeBitmapCsumLo = c & 0xffff;
        if (this.descSize >= 64) gd.inodeBitmapCsumHi = c >>> 16;
      }
    }
    const perBlock = this.bs / this.descSize;
    const bp = await this.bread(this.gdBlock[g]!);
    const at = (g % perBlock) * this.descSize;
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, this.bs);
    if (this.descSize >= 64) GD.encode(gd, dv, at);
    else {
      const { blockBitmapHi, inodeBitmapHi, inodeTableHi, freeBlocksHi, freeInodesHi, usedDirsHi, itableUnusedHi,
        excludeBitmapHi, blockBitmapCsumHi, inodeBitmapCsumHi, ...lo } = gd;
      void [blockBitmapHi, inodeBitmapHi, inodeTableHi, freeBlocksHi, freeInodesHi, usedDirsHi, itableUnusedHi, excludeBitmapHi, blockBitmapCsumHi, inodeBitmapCsumHi];
      GD.encode(lo, dv, at);
    }
    if (this.csum || this.gdtCsum) {
      gd.checksum = this.gdChecksum(g, bp.data.subarray(at, at + this.descSize));
      dv.setUint16(at + GD.f.checksum.off, gd.checksum, true);
    }
    this.bio.bdwrite(bp);
  }

  async writeSuper(): Promise<void> {
    const sb = this.sb;
    sb.freeBlocksLo = this.freeBlocks >>> 0;
    if (this.is64) sb.freeBlocksHi = Math.floor(this.freeBlocks / 0x100000000);
    sb.freeInodes = this.freeInodes;
    const now = this.k.now().sec;
    sb.wtime = now >>> 0;
    const dv = new DataView(this.sbRaw.buffer);
    SB.encode(sb, dv);
    if (this.csum) {
      sb.checksum = crc32c(0xffffffff, this.sbRaw, 0, SB.f.checksum.off);
      dv.setUint32(SB.f.checksum.off, sb.checksum, true);
    }
    // The superblock shares block 0 with the boot area when blocks are larger than 1 KiB.
    if (this.bs === 1024) {
      const bp = await this.bread(1);
      bp.data.set(this.sbRaw);
      this.bio.bdwrite(bp);
    } else {
      const bp = await this.bread(0);
      bp.data.set(this.sbRaw, SUPERBLOCK_OFFSET);
      this.bio.bdwrite(bp);
    }
    this.sbDirty = false;
  }

  /** Every group's descriptor (and bitmap checksums) is rewritten at the next sync (newfs). */
  markAllGroupsDirty(): void {
    for (let g = 0; g < this.groupCount; g++) this.dirtyGroups.add(g);
  }

  /** Device block numbers of the primary descriptor blocks, in order. */
  get descBlocks(): number[] {
    return [...new Set(this.gdBlock)];
  }

  markSuperDirty(): void {
    this.sbDirty = true;
  }

  // ---------------------------------------------------------------- block checksums used by several structures

  xattrBlockChecksum(blk: number, data: Uint8Array): number {
    const save = new DataView(data.buffer, data.byteOffset).getUint32(16, true);
    new DataView(data.buffer, data.byteOffset).setUint32(16, 0, true);
    const c = crc32c(crc32cU64(this.seed, blk), data, 0, this.bs);
    new DataView(data.buffer, data.byteOffset).setUint32(16, save, true);
    return c;
  }
}

function padded(d: Uint8Array, off: number, n: number): DataView {
  const b = new Uint8Array(64);
  b.set(d.subarray(off, off + n));
  return new DataView(b.buffer);
}

/** First clear bit in [from, to) of a bitmap, or -1. Skips full bytes. */
export function findZero(d: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    if ((i & 7) === 0 && d[i >> 3] === 0xff) { i += 8; continue; }
    if (!(d[i >> 3]! & (1 << (i & 7)))) return i;
    i++;
  }
  return -1;
}

export type { Extent };
