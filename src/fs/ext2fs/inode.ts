/**
 * The in-memory inode: the on-disk bytes plus decoded fields, with the
 * conversions the format needs (split 16/32-bit halves, i_blocks units,
 * extended timestamps with epoch bits and nanoseconds [DL §4.1.1 "Inode Timestamps"]).
 */

import type { Timespec } from '../../vfs/types.js';
import { GOOD_OLD_INODE_SIZE, IFLAG, INODE } from './layout.js';

/** Extent as held in memory: `pblk` 0 never occurs (holes are absent). */
export interface Extent {
  lblk: number;
  pblk: number;
  len: number;
  uninit: boolean;
}

export class Inode {
  /** The whole on-disk inode (inode_size bytes), padded to at least 160 for uniform decoding. */
  readonly raw: Uint8Array;
  readonly dv: DataView;
  mode = 0;
  uid = 0;
  gid = 0;
  size = 0;
  links = 0;
  flags = 0;
  /** i_blocks in 512-byte units (converted from fs blocks for HUGE_FILE_FL inodes). */
  blocks512 = 0;
  dtime = 0;
  generation = 0;
  fileAcl = 0;
  extraIsize = 0;
  atime: Timespec = { sec: 0, nsec: 0 };
  mtime: Timespec = { sec: 0, nsec: 0 };
  ctime: Timespec = { sec: 0, nsec: 0 };
  crtime: Timespec | undefined;
  /** Seed of this inode's metadata checksums: crc32c(fs seed, ino, generation). */
  csumSeed = 0;
  /** Flat extent list while it differs from the on-disk tree (written back by Ext2Fs.flushInode). */
  extents: Extent[] | null = null;
  extentsDirty = false;
  /** Tree blocks (index and leaf) of the on-disk extent tree, known when `extents` was loaded. */
  treeBlocks: number[] = [];
  dirty = false;
  /** Open references the VFS holds through a vnode (the vnode exists). */
  live = false;

  constructor(
    readonly ino: number,
    readonly inodeSize: number,
    bytes: Uint8Array,
    private readonly blockSize: number,
  ) {
    this.raw = new Uint8Array(Math.max(inodeSize, 160));
    this.raw.set(bytes.subarray(0, inodeSize));
    this.dv = new DataView(this.raw.buffer);
    this.decode();
  }

  /** Whether an extra field ending at byte `end` of the inode is present. */
  hasExtra(end: number): boolean {
    return this.inodeSize > GOOD_OLD_INODE_SIZE && end <= GOOD_OLD_INODE_SIZE + this.extraIsize;
  }

  decode(): void {
    // Field by field at the table's offsets: this runs for every inode read, so no intermediate object.
    const dv = this.dv;
    const F = INODE.f;
    this.mode = dv.getUint16(F.mode.off, true);
    this.uid = dv.getUint16(F.uidLo.off, true) | (dv.getUint16(F.uidHi.off, true) << 16);
    this.gid = dv.getUint16(F.gidLo.off, true) | (dv.getUint16(F.gidHi.off, true) << 16);
    this.size = dv.getUint32(F.sizeLo.off, true) + dv.getUint32(F.sizeHi.off, true) * 0x100000000;
    this.links = dv.getUint16(F.linksCount.off, true);
    this.flags = dv.getUint32(F.flags.off, true);
    const blocks = dv.getUint32(F.blocksLo.off, true) + dv.getUint16(F.blocksHi.off, true) * 0x100000000;
    this.blocks512 = this.flags & IFLAG.HUGE_FILE ? blocks * (this.blockSize / 512) : blocks;
    this.dtime = dv.getUint32(F.dtime.off, true);
    this.generation = dv.getUint32(F.generation.off, true);
    this.fileAcl = dv.getUint32(F.fileAclLo.off, true) + dv.getUint16(F.fileAclHi.off, true) * 0x100000000;
    this.extraIsize = this.inodeSize > GOOD_OLD_INODE_SIZE ? dv.getUint16(F.extraIsize.off, true) : 0;
    if (GOOD_OLD_INODE_SIZE + this.extraIsize > this.inodeSize) this.extraIsize = 0; // hostile: ignore extras
    this.atime = this.time(dv.getUint32(F.atime.off, true), F.atimeExtra.off);
    this.mtime = this.time(dv.getUint32(F.mtime.off, true), F.mtimeExtra.off);
    this.ctime = this.time(dv.getUint32(F.ctime.off, true), F.ctimeExtra.off);
    this.crtime = this.hasExtra(F.crtimeExtra.off + 4) ? this.time(dv.getUint32(F.crtime.off, true), F.crtimeExtra.off) : undefined;
  }

  private time(lo: number, extraOff: number): Timespec {
    let sec = lo | 0; // signed 32-bit seconds
    let nsec = 0;
    if (this.hasExtra(extraOff + 4)) {
      const extra = this.dv.getUint32(extraOff, true);
      sec += (extra & 3) * 0x100000000;
      nsec = extra >>> 2;
      if (nsec > 999999999) nsec = 0;
    }
    return { sec, nsec };
  }

  private encodeTime(t: Timespec): [number, number] {
    const lo = t.sec >>> 0;
    const epoch = Math.round((t.sec - (lo | 0)) / 0x100000000) & 3;
    return [lo, (epoch | (t.nsec << 2)) >>> 0];
  }

  /** Writes the decoded fields back into `raw` (the checksum is the file system's job). */
  encode(): void {
    const [atime, atimeExtra] = this.encodeTime(this.atime);
    const [mtime, mtimeExtra] = this.encodeTime(this.mtime);
    const [ctime, ctimeExtra] = this.encodeTime(this.ctime);
    const huge = (this.flags & IFLAG.HUGE_FILE) !== 0;
    const blocks = huge ? Math.floor(this.blocks512 / (this.blockSize / 512)) : this.blocks512;
    const dv = this.dv;
    const F = INODE.f;
    dv.setUint16(F.mode.off, this.mode, true);
    dv.setUint16(F.uidLo.off, this.uid & 0xffff, true);
    dv.setUint16(F.uidHi.off, this.uid >>> 16, true);
    dv.setUint16(F.gidLo.off, this.gid & 0xffff, true);
    dv.setUint16(F.gidHi.off, this.gid >>> 16, true);
    dv.setUint32(F.sizeLo.off, this.size >>> 0, true);
    dv.setUint32(F.sizeHi.off, Math.floor(this.size / 0x100000000) >>> 0, true);
    dv.setUint16(F.linksCount.off, this.links, true);
    dv.setUint32(F.flags.off, this.flags >>> 0, true);
    dv.setUint32(F.blocksLo.off, blocks >>> 0, true);
    dv.setUint16(F.blocksHi.off, Math.floor(blocks / 0x100000000) & 0xffff, true);
    dv.setUint32(F.dtime.off, this.dtime >>> 0, true);
    dv.setUint32(F.generation.off, this.generation >>> 0, true);
    dv.setUint32(F.fileAclLo.off, this.fileAcl >>> 0, true);
    dv.setUint16(F.fileAclHi.off, Math.floor(this.fileAcl / 0x100000000) & 0xffff, true);
    dv.setUint32(F.atime.off, atime, true);
    dv.setUint32(F.mtime.off, mtime, true);
    dv.setUint32(F.ctime.off, ctime, true);
    if (this.inodeSize > GOOD_OLD_INODE_SIZE) this.dv.setUint16(INODE.f.extraIsize.off, this.extraIsize, true);
    if (this.hasExtra(INODE.f.atimeExtra.off + 4)) this.dv.setUint32(INODE.f.atimeExtra.off, atimeExtra, true);
    if (this.hasExtra(INODE.f.mtimeExtra.off + 4)) this.dv.setUint32(INODE.f.mtimeExtra.off, mtimeExtra, true);
    if (this.hasExtra(INODE.f.ctimeExtra.off + 4)) this.dv.setUint32(INODE.f.ctimeExtra.off, ctimeExtra, true);
    if (this.crtime && this.hasExtra(INODE.f.crtimeExtra.off + 4)) {
      const [cr, crExtra] = this.encodeTime(this.crtime);
      this.dv.setUint32(INODE.f.crtime.off, cr, true);
      this.dv.setUint32(INODE.f.crtimeExtra.off, crExtra, true);
    }
  }

  /** i_block (60 bytes) as a view. */
  get iblock(): Uint8Array {
    return this.raw.subarray(INODE.f.block.off, INODE.f.block.off + 60);
  }

  get isDir(): boolean {
    return (this.mode & 0o170000) === 0o040000;
  }
  get isReg(): boolean {
    return (this.mode & 0o170000) === 0o100000;
  }
  get isLnk(): boolean {
    return (this.mode & 0o170000) === 0o120000;
  }
}
