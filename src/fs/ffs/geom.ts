/**
 * The geometry of one FFS file system, derived from its superblock after the
 * superblock has been checked: where each cylinder group, inode and summary
 * lives (the cgbase/cgimin/ino_to_fsba macros of fs.h), in frag units unless
 * a name says bytes. Shared by the driver, the checker and newfs.
 */

import {
  SUPERBLOCK, FS_UFS1_MAGIC, FS_UFS2_MAGIC, SBLOCKSEARCH, SBLOCKSIZE, MINBSIZE, MAXBSIZE, MAXFRAG,
  NDADDR, MAXSYMLINKLEN_UFS1, MAXSYMLINKLEN_UFS2, CG, type Superblock,
} from './layout.js';

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export class FsGeom {
  readonly ufs2: boolean;
  readonly bsize: number;
  readonly fsize: number;
  readonly frag: number;
  readonly ncg: number;
  readonly ipg: number;
  readonly fpg: number;
  readonly inopb: number;
  readonly nindir: number;
  /** Bytes per on-disk inode: 128 (UFS1) or 256 (UFS2). */
  readonly isize: number;
  /** Bytes per block pointer: 4 (UFS1) or 8 (UFS2). */
  readonly ptrsize: number;
  /** Frags in the file system. */
  readonly size: number;
  readonly dsize: number;
  readonly csaddr: number;
  readonly cssize: number;
  readonly cgsize: number;
  /** Bytes read for a cg block: the cg header and its maps. */
  readonly cgbytes: number;
  readonly maxsymlinklen: number;
  readonly contigsumsize: number;

  constructor(
    readonly sb: Superblock,
    readonly le: boolean,
    /** Byte offset the superblock was found at. */
    readonly sbloc: number,
  ) {
    this.ufs2 = sb.magic === FS_UFS2_MAGIC;
    this.bsize = sb.bsize;
    this.fsize = sb.fsize;
    this.frag = sb.frag;
    this.ncg = sb.ncg;
    this.ipg = sb.ipg;
    this.fpg = sb.fpg;
    this.inopb = sb.inopb;
    this.isize = this.ufs2 ? 256 : 128;
    this.ptrsize = this.ufs2 ? 8 : 4;
    this.nindir = sb.nindir;
    // UFS1 keeps its sizes in the old 32-bit fields (NetBSD's ffs_oldfscompat_read).
    this.size = this.ufs2 ? sb.size : sb.old_size;
    this.dsize = this.ufs2 ? sb.dsize : sb.old_dsize;
    this.csaddr = this.ufs2 ? sb.csaddr : sb.old_csaddr;
    this.cssize = sb.cssize;
    this.cgsize = sb.cgsize;
    this.cgbytes = this.fragroundup(sb.cgsize);
    this.maxsymlinklen = sb.maxsymlinklen;
    this.contigsumsize = sb.contigsumsize;
  }

  cgbase(c: number): number {
    return this.fpg * c;
  }
  cgstart(c: number): number {
    if (this.ufs2) return this.cgbase(c);
    return this.cgbase(c) + this.sb.old_cgoffset * (c & ~this.sb.old_cgmask);
  }
  cgsblock(c: number): number {
    return this.cgstart(c) + this.sb.sblkno;
  }
  cgtod(c: number): number {
    return this.cgstart(c) + this.sb.cblkno;
  }
  cgimin(c: number): number {
    return this.cgstart(c) + this.sb.iblkno;
  }
  cgdmin(c: number): number {
    return this.cgstart(c) + this.sb.dblkno;
  }
  /** Frags in cg `c` (the last one may be short). */
  cgfrags(c: number): number {
    return Math.min(this.fpg, this.size - this.cgbase(c));
  }
  dtog(d: number): number {
    return Math.floor(d / this.fpg);
  }
  inoToCg(ino: number): number {
    return Math.floor(ino / this.ipg);
  }
  /** Frag address of the block holding inode `ino` (ino_to_fsba). */
  inoToFsba(ino: number): number {
    return this.cgimin(this.inoToCg(ino)) + Math.floor((ino % this.ipg) / this.inopb) * this.frag;
  }
  /** Index of inode `ino` within its block (ino_to_fsbo). */
  inoToFsbo(ino: number): number {
    return (ino % this.ipg) % this.inopb;
  }
  fragroundup(n: number): number {
    return Math.ceil(n / this.fsize) * this.fsize;
  }
  blkroundup(n: number): number {
    return Math.ceil(n / this.bsize) * this.bsize;
  }
  numfrags(bytes: number): number {
    return Math.ceil(bytes / this.fsize);
  }
  /** Bytes the block `lbn` of a file of `size` bytes occupies (fs.h sblksize). */
  blksize(size: number, lbn: number): number {
    if (lbn >= NDADDR || size >= (lbn + 1) * this.bsize) return this.bsize;
    return this.fragroundup(size - lbn * this.bsize);
  }
  /** Bytes of the superblock summary area, rounded to frags. */
  get csbytes(): number {
    return this.fragroundup(this.cssize);
  }
  get maxino(): number {
    return this.ncg * this.ipg;
  }
  /** Largest file the block tree can map. */
  get maxFileSize(): number {
    const n = this.nindir;
    const blocks = NDADDR + n + n * n + n * n * n;
    return Math.min(Number.MAX_SAFE_INTEGER, blocks * this.bsize, this.sb.maxfilesize || Number.MAX_SAFE_INTEGER);
  }
}

/** Why a candidate superblock is not usable, or null when it is. Everything is range-checked here once. */
export function checkSuperblock(sb: Superblock, devSize: number, sbloc: number): string | null {
  const ufs2 = sb.magic === FS_UFS2_MAGIC;
  if (!ufs2 && sb.magic !== FS_UFS1_MAGIC) return `bad magic 0x${(sb.magic >>> 0).toString(16)}`;
  if (!isPow2(sb.bsize) || sb.bsize < MINBSIZE || sb.bsize > MAXBSIZE) return `bad block size ${sb.bsize}`;
  if (!isPow2(sb.fsize) || sb.fsize < 512 || sb.fsize > sb.bsize) return `bad fragment size ${sb.fsize}`;
  if (sb.frag !== sb.bsize / sb.fsize || sb.frag > MAXFRAG) return `bad frags per block ${sb.frag}`;
  if (sb.sbsize < 1376 || sb.sbsize > SBLOCKSIZE) return `bad superblock size ${sb.sbsize}`;
  if (sb.ncg < 1 || sb.ncg > 1 << 24) return `bad cylinder-group count ${sb.ncg}`;
  const isize = ufs2 ? 256 : 128;
  if (sb.inopb !== sb.bsize / isize) return `bad inodes per block ${sb.inopb}`;
  if (sb.nindir !== sb.bsize / (ufs2 ? 8 : 4)) return `bad pointers per block ${sb.nindir}`;
  if (sb.ipg < sb.inopb || sb.ipg % sb.inopb !== 0 || sb.ipg > 1 << 26) return `bad inodes per group ${sb.ipg}`;
  if (sb.fpg < sb.frag || sb.fpg % sb.frag !== 0 || sb.fpg > 1 << 30) return `bad frags per group ${sb.fpg}`;
  if (sb.ncg * sb.ipg > 0xffffffff) return 'too many inodes';
  const size = ufs2 ? sb.size : sb.old_size;
  const dsize = ufs2 ? sb.dsize : sb.old_dsize;
  if (!Number.isSafeInteger(size) || size <= 0) return `bad size ${size}`;
  if (size * sb.fsize > devSize) return `file system (${size * sb.fsize} bytes) is larger than the device (${devSize})`;
  if (size > sb.ncg * sb.fpg || size <= (sb.ncg - 1) * sb.fpg) return `size ${size} does not match ${sb.ncg} groups of ${sb.fpg}`;
  if (dsize <= 0 || dsize > size) return `bad data size ${dsize}`;
  if (!(sb.sblkno >= 0 && sb.sblkno < sb.cblkno && sb.cblkno < sb.iblkno && sb.iblkno < sb.dblkno && sb.dblkno <= sb.fpg)) {
    return 'bad cylinder-group layout';
  }
  if (sb.iblkno + (sb.ipg / sb.inopb) * sb.frag > sb.dblkno) return 'inode blocks overlap data';
  // Every group's metadata, the last one's included, lies inside the file system.
  if ((sb.ncg - 1) * sb.fpg + sb.dblkno > size) return 'the last cylinder group has no room for its metadata';
  if (sb.cgsize < CG.size || sb.cgsize > (sb.iblkno - sb.cblkno) * sb.fsize) return `bad cg size ${sb.cgsize}`;
  const csaddr = ufs2 ? sb.csaddr : sb.old_csaddr;
  if (sb.cssize < sb.ncg * 16 || sb.cssize > 1 << 30) return `bad summary size ${sb.cssize}`;
  if (csaddr < 0 || csaddr + Math.ceil(sb.cssize / sb.fsize) > size) return `summary area ${csaddr} outside the file system`;
  const msl = ufs2 ? MAXSYMLINKLEN_UFS2 : MAXSYMLINKLEN_UFS1;
  if (sb.maxsymlinklen !== 0 && sb.maxsymlinklen !== msl) return `bad maximum short-symlink length ${sb.maxsymlinklen}`;
  if (sb.contigsumsize < 0 || sb.contigsumsize > 16) return `bad cluster-summary size ${sb.contigsumsize}`;
  if (!ufs2 && sb.old_cgmask !== -1 && sb.old_cgoffset !== 0) {
    // Rotational staggering (4.2BSD-era images): cgstart may move; bound it.
    if (sb.old_cgoffset < 0 || sb.old_cgoffset * sb.ncg > sb.fpg) return 'bad cylinder-group offset';
  }
  if (ufs2 && sb.sblockloc !== sbloc) return `superblock location field ${sb.sblockloc} does not match ${sbloc}`;
  return null;
}

export interface FoundSuperblock {
  geom: FsGeom;
  /** The superblock's own bytes (fs_sbsize of them). */
  raw: Uint8Array;
}

/**
 * Finds a superblock at the standard locations, in either byte order.
 * `read(offset, len)` reads bytes; returns the first good one, or the reasons
 * each candidate was refused.
 */
export async function findSuperblock(
  read: (offset: number, len: number) => Promise<Uint8Array | null>,
  devSize: number,
  locations: readonly number[] = SBLOCKSEARCH,
): Promise<FoundSuperblock | { reasons: string[] }> {
  const reasons: string[] = [];
  for (const loc of locations) {
    if (loc + SBLOCKSIZE > devSize) continue;
    const raw = await read(loc, SBLOCKSIZE);
    if (!raw) continue;
    for (const le of [true, false]) {
      const sb = SUPERBLOCK.decode(raw, 0, le);
      if (sb.magic !== FS_UFS1_MAGIC && sb.magic !== FS_UFS2_MAGIC) continue;
      // UFS1 is never at 64 KiB and UFS2 never at 8 KiB: each is the other's backup slot (fs.h).
      if (sb.magic === FS_UFS1_MAGIC && loc === 65536) continue;
      if (sb.magic === FS_UFS2_MAGIC && loc === 8192 && sb.sblockloc !== 8192) continue;
      const why = checkSuperblock(sb, devSize, loc);
      if (why) {
        reasons.push(`at ${loc} (${le ? 'little' : 'big'}-endian): ${why}`);
        continue;
      }
      return { geom: new FsGeom(sb, le, loc), raw: raw.slice(0, sb.sbsize) };
    }
  }
  return { reasons };
}

/** Bytes scanned for superblock copies when none of the standard locations holds a usable one. */
const ALT_SCAN_BYTES = 256 * 1024 * 1024;

/**
 * Finds a copy of the superblock (one sits at cgsblock of every cylinder
 * group; fsck_ffs -b uses them) when the standard locations fail: scans the
 * device at 512-byte steps for the magic, in either byte order, and returns
 * the first copy that passes the checks. Bounded to the first 256 MiB.
 */
export async function findAlternateSuperblock(
  read: (offset: number, len: number) => Promise<Uint8Array | null>,
  devSize: number,
): Promise<(FoundSuperblock & { at: number }) | null> {
  const CH = 1 << 20;
  const limit = Math.min(devSize, ALT_SCAN_BYTES);
  for (let base = 0; base < limit; base += CH) {
    const len = Math.min(CH + SBLOCKSIZE, devSize - base);
    if (len < 1376) break;
    const buf = await read(base, len - (len % 512));
    if (!buf) break;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let off = 0; off < CH && off + 1376 <= buf.length; off += 512) {
      for (const le of [true, false]) {
        const magic = dv.getInt32(off + 1372, le);
        if (magic !== FS_UFS1_MAGIC && magic !== FS_UFS2_MAGIC) continue;
        const sb = SUPERBLOCK.decode(buf, off, le);
        const at = base + off;
        if (STANDARD.has(at)) continue; // the standard slots were already refused
        // A copy names the primary's location (UFS2), not its own.
        const primary = sb.magic === FS_UFS2_MAGIC ? sb.sblockloc : 8192;
        if (checkSuperblock(sb, devSize, primary) !== null) continue;
        return { geom: new FsGeom(sb, le, primary), raw: buf.slice(off, off + sb.sbsize), at };
      }
    }
  }
  return null;
}

const STANDARD = new Set<number>(SBLOCKSEARCH);

export function variantName(g: FsGeom): string {
  return `${g.ufs2 ? 'UFS2' : 'UFS1'}${g.le ? '' : ' (big-endian)'}`;
}
