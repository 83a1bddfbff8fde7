/**
 * toyfs on-disk layout: the small file system that docs/writing-a-driver.md
 * builds step by step. Every structure is declared once, as a table of
 * (name, offset, width), and decoded and encoded from that table.
 *
 *   block 0          superblock
 *   block 1          block bitmap (1 bit per block: at most 8192 blocks = 8 MiB)
 *   block 2          inode bitmap (1 bit per inode)
 *   blocks 3..       inode table (128-byte inodes, 8 per block)
 *   then             data blocks
 *
 * All integers are little-endian. Inode 1 is the root directory; inode 0 means "none".
 */

export const BLOCK = 1024;
export const MAGIC = 0x66796f74; // "toyf"
export const VERSION = 1;
export const INODE_SIZE = 128;
export const INODES_PER_BLOCK = BLOCK / INODE_SIZE;
export const NDIRECT = 19;
export const PTRS_PER_BLOCK = BLOCK / 4;
export const MAX_FILE_SIZE = (NDIRECT + PTRS_PER_BLOCK) * BLOCK;
export const DIRENT_SIZE = 64;
export const NAME_MAX = 56;
export const ROOT_INO = 1;
export const MAX_BLOCKS = BLOCK * 8;

type Field = readonly [name: string, offset: number, width: 1 | 2 | 4];

/** A structure declared as a table of little-endian unsigned fields. */
export class Struct<T extends string> {
  constructor(readonly size: number, readonly fields: readonly (readonly [T, number, 1 | 2 | 4])[]) {}

  decode(buf: Uint8Array, at = 0): Record<T, number> {
    const dv = new DataView(buf.buffer, buf.byteOffset + at, this.size);
    const out = {} as Record<T, number>;
    for (const [name, off, w] of this.fields) out[name] = w === 1 ? dv.getUint8(off) : w === 2 ? dv.getUint16(off, true) : dv.getUint32(off, true);
    return out;
  }

  encode(v: Record<T, number>, buf: Uint8Array, at = 0): void {
    const dv = new DataView(buf.buffer, buf.byteOffset + at, this.size);
    for (const [name, off, w] of this.fields) {
      const x = v[name] >>> 0;
      if (w === 1) dv.setUint8(off, x);
      else if (w === 2) dv.setUint16(off, x, true);
      else dv.setUint32(off, x, true);
    }
  }
}

export const superblock = new Struct(64, [
  ['magic', 0, 4],
  ['version', 4, 4],
  ['blocks', 8, 4], //      total blocks in the file system
  ['inodes', 12, 4], //     total inodes (a multiple of INODES_PER_BLOCK)
  ['itable', 16, 4], //     first block of the inode table
  ['data', 20, 4], //       first data block
  ['freeBlocks', 24, 4],
  ['freeInodes', 28, 4],
  ['clean', 32, 4], //      1 when cleanly unmounted
] as const satisfies readonly Field[]);

export type Superblock = ReturnType<typeof superblock.decode>;

export const inode = new Struct(INODE_SIZE, [
  ['mode', 0, 2], //        type bits and permissions, as st_mode
  ['nlink', 2, 2],
  ['uid', 4, 4],
  ['gid', 8, 4],
  ['size', 12, 4],
  ['atime', 16, 4],
  ['atimeNs', 20, 4],
  ['mtime', 24, 4],
  ['mtimeNs', 28, 4],
  ['ctime', 32, 4],
  ['ctimeNs', 36, 4],
  ['indirect', 40, 4], //   block of PTRS_PER_BLOCK more block numbers
  // direct block numbers follow at 44 + 4*i, i < NDIRECT (to 120)
] as const satisfies readonly Field[]);

export type Inode = ReturnType<typeof inode.decode> & { direct: number[] };

export const DIRECT_OFFSET = 44;

export const dirent = new Struct(DIRENT_SIZE, [
  ['ino', 0, 4], //         0: a free slot
  ['nameLen', 4, 1],
  // name bytes follow at 8, NAME_MAX of them
] as const satisfies readonly Field[]);

export const DIRENT_NAME_OFFSET = 8;
