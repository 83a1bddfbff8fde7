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
    const d = INODE.decode(this.dv);
    this.mode = d.mode;
    this.uid = d.uidLo | (d.uidHi << 16);
    this.gid = d.gidLo | (d.gidHi << 16);
    this.size = d.sizeLo + d.sizeHi * 0x100000000;
    this.links = d.linksCount;
    this.flags = d.flags;
    const blocks = d.blocksLo + d.blocksHi * 0x100000000;
    this.blocks512 = d.flags & IFLAG.HUGE_FILE ? blocks * (this.blockSize / 512) : blocks;
    this.dtime = d.dtime;
    this.generation = d.generation;
    this.fileAcl = d.fileAclLo + d.fileAclHi * 0x100000000;
    this.extraIsize = this.inodeSize > GOOD_OLD_INODE_SIZE ? d.extraIsize : 0;
    if (GOOD_OLD_INODE_SIZE + this.extraIsize > this.inodeSize) this.extraIsize = 0; // hostile: ignore extras
    this.atime = this.time(d.atime, d.atimeExtra, INODE.f.atimeExtra.off);
    this.mtime = this.time(d.mtime, d.mtimeExtra, INODE.f.mtimeExtra.off);
    this.ctime = this.time(d.ctime, d.ctimeExtra, INODE.f.ctimeExtra.off);
    this.crtime = this.hasExtra(INODE.f.crtimeExtra.off + 4) ? this.time(d.crtime, d.crtimeExtra, INODE.f.crtimeExtra.off) : undefined;
  }

  private time(lo: number, extra: number, extraOff: number): Timespec {
    let sec = lo | 0; // signed 32-bit seconds
    let nsec = 0;
    if (this.hasExtra(extraOff + 4)) {
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
    INODE.encode(
      {
        mode: this.mode, uidLo: this.uid & 0xffff, uidHi: this.uid >>> 16, gidLo: this.gid & 0xffff, gidHi: this.gid >>> 16,
        sizeLo: this.size >>> 0, sizeHi: Math.floor(this.size / 0x100000000) >>> 0, linksCount: this.links,
        flags: this.flags, blocksLo: blocks >>> 0, blocksHi: Math.floor(blocks / 0x100000000) & 0xffff,
        dtime: this.dtime, generation: this.generation,
        fileAclLo: this.fileAcl >>> 0, fileAclHi: Math.floor(this.fileAcl / 0x100000000) & 0xffff,
        atime, mtime, ctime,
      },
      this.dv,
    );
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
