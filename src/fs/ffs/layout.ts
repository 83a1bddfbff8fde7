/**
 * The on-disk structures of the Berkeley Fast File System (NetBSD's
 * sys/ufs/ffs/fs.h, sys/ufs/ufs/dinode.h, sys/ufs/ufs/dir.h), each declared
 * once as a table of (offset, width, name) from which decode and encode come.
 * Every structure is read and written in either byte order: an image made for
 * a big-endian machine keeps its numbers big-endian (NetBSD's FFS_EI).
 */

export type Kind = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64';

/** One field: byte offset, width and signedness, name, and for arrays the element count. */
export type FieldDecl = readonly [offset: number, kind: Kind, name: string, count?: number];

type Decoded<F extends readonly FieldDecl[]> = {
  -readonly [D in F[number] as D[2]]: D extends readonly [number, Kind, string, number] ? number[] : number;
};

const WIDTH: Record<Kind, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

function getv(dv: DataView, off: number, k: Kind, le: boolean): number {
  switch (k) {
    case 'u8': return dv.getUint8(off);
    case 'i8': return dv.getInt8(off);
    case 'u16': return dv.getUint16(off, le);
    case 'i16': return dv.getInt16(off, le);
    case 'u32': return dv.getUint32(off, le);
    case 'i32': return dv.getInt32(off, le);
    // 64-bit values beyond 2^53 lose precision; every caller range-checks them anyway. Two 32-bit halves
    // (the product is exact, the sum rounds once: the same number as through a BigInt, without allocating one).
    case 'u64': return dv.getUint32(off + (le ? 4 : 0), le) * 4294967296 + dv.getUint32(off + (le ? 0 : 4), le);
    case 'i64': return dv.getInt32(off + (le ? 4 : 0), le) * 4294967296 + dv.getUint32(off + (le ? 0 : 4), le);
  }
}

function setv(dv: DataView, off: number, k: Kind, le: boolean, v: number): void {
  switch (k) {
    case 'u8': dv.setUint8(off, v & 0xff); return;
    case 'i8': dv.setInt8(off, v); return;
    case 'u16': dv.setUint16(off, v & 0xffff, le); return;
    case 'i16': dv.setInt16(off, v, le); return;
    case 'u32': dv.setUint32(off, v >>> 0, le); return;
    case 'i32': dv.setInt32(off, v | 0, le); return;
    case 'u64': dv.setBigUint64(off, BigInt.asUintN(64, BigInt(Math.trunc(v))), le); return;
    case 'i64': dv.setBigInt64(off, BigInt.asIntN(64, BigInt(Math.trunc(v))), le); return;
  }
}

export interface Struct<F extends readonly FieldDecl[]> {
  readonly size: number;
  readonly fields: F;
  decode(bytes: Uint8Array, at: number, le: boolean): Decoded<F>;
  /** Writes the fields present in `v` (others keep their bytes). */
  encode(bytes: Uint8Array, at: number, le: boolean, v: Partial<Decoded<F>>): void;
  /** Byte offset of a field, for patching one value (tests, checkers). */
  offsetOf(name: F[number][2]): number;
}

export function defineStruct<const F extends readonly FieldDecl[]>(size: number, fields: F): Struct<F> {
  const byName = new Map<string, FieldDecl>();
  for (const f of fields) byName.set(f[2], f);
  return {
    size,
    fields,
    decode(bytes, at, le) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      const out: Record<string, number | number[]> = {};
      for (const [off, k, name, count] of fields) {
        if (count === undefined) out[name] = getv(dv, off, k, le);
        else {
          const a = new Array<number>(count);
          for (let i = 0; i < count; i++) a[i] = getv(dv, off + i * WIDTH[k], k, le);
          out[name] = a;
        }
      }
      return out as Decoded<F>;
    },
    encode(bytes, at, le, v) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      const rec = v as Record<string, number | number[] | undefined>;
      for (const [off, k, name, count] of fields) {
        const x = rec[name];
        if (x === undefined) continue;
        if (count === undefined) setv(dv, off, k, le, x as number);
        else for (let i = 0; i < count; i++) setv(dv, off + i * WIDTH[k], k, le, (x as number[])[i] ?? 0);
      }
    },
    offsetOf(name) {
      const f = byName.get(name);
      if (!f) throw new RangeError(`no field ${name}`);
      return f[0];
    },
  };
}

/* ---- constants (fs.h, dinode.h, dir.h) ---- */

export const FS_UFS1_MAGIC = 0x011954;
export const FS_UFS2_MAGIC = 0x19540119;
export const CG_MAGIC = 0x090255;
/** Where a superblock may be, in the order NetBSD's ffs_mountfs tries them (fs.h SBLOCKSEARCH). */
export const SBLOCK_UFS2 = 65536;
export const SBLOCK_UFS1 = 8192;
export const SBLOCK_FLOPPY = 0;
export const SBLOCK_PIGGY = 262144;
export const SBLOCKSEARCH = [SBLOCK_UFS2, SBLOCK_UFS1, SBLOCK_FLOPPY, SBLOCK_PIGGY] as const;
export const SBLOCKSIZE = 8192;
export const MAXMNTLEN = 468;
export const MAXVOLLEN = 32;
export const FSMAXSNAP = 20;
export const MINBSIZE = 4096;
export const MAXBSIZE = 65536;
export const MAXFRAG = 8;
export const DEV_BSIZE = 512;
export const NDADDR = 12;
export const NIADDR = 3;
export const NXADDR = 2;
export const UFS_ROOTINO = 2;
export const DIRBLKSIZ = 512;
export const UFS_MAXNAMLEN = 255;
export const MAXSYMLINKLEN_UFS1 = (NDADDR + NIADDR) * 4;
export const MAXSYMLINKLEN_UFS2 = (NDADDR + NIADDR) * 8;
export const FS_44INODEFMT = 2;

/** fs_clean values. */
export const FS_ISCLEAN = 0x01;
export const FS_WASCLEAN = 0x02;
/** fs_flags bits. */
export const FS_UNCLEAN = 0x001;
export const FS_DOSOFTDEP = 0x002;
export const FS_NEEDSFSCK = 0x004;
export const FS_FLAGS_UPDATED = 0x080;
export const FS_DOWAPBL = 0x100;
/** fs_journal_location values (ufs_wapbl.h). */
export const UFS_WAPBL_JOURNALLOC_NONE = 0;
export const UFS_WAPBL_JOURNALLOC_END_PARTITION = 1;
export const UFS_WAPBL_JOURNALLOC_IN_FILESYSTEM = 2;
export const UFS_WAPBL_VERSION = 1;

/** d_type values (dir.h). */
export const DT_UNKNOWN = 0;
export const DT_FIFO = 1;
export const DT_CHR = 2;
export const DT_DIR = 4;
export const DT_BLK = 6;
export const DT_REG = 8;
export const DT_LNK = 10;
export const DT_SOCK = 12;
export const DT_WHT = 14;

/**
 * struct fs, the superblock (fs.h). 1376 bytes; fields that are in-core
 * pointers on the machine (fs_ocsp and friends, 728..855) are padding on disk.
 * UFS1 keeps sizes in the fs_old_* fields; UFS2 in the 64-bit ones from 1000 on.
 */
export const SUPERBLOCK = defineStruct(1376, [
  [8, 'i32', 'sblkno'], // offset of the superblock copy in each cg, in frags
  [12, 'i32', 'cblkno'], // offset of the cg block in each cg
  [16, 'i32', 'iblkno'], // offset of the inode blocks in each cg
  [20, 'i32', 'dblkno'], // offset of the first data frag after the cg metadata
  [24, 'i32', 'old_cgoffset'], // UFS1: cylinder-group offset in cylinder (rotational staggering)
  [28, 'i32', 'old_cgmask'],
  [32, 'i32', 'old_time'],
  [36, 'i32', 'old_size'], // UFS1: frags in the file system
  [40, 'i32', 'old_dsize'],
  [44, 'u32', 'ncg'], // number of cylinder groups
  [48, 'i32', 'bsize'],
  [52, 'i32', 'fsize'],
  [56, 'i32', 'frag'], // frags per block
  [60, 'i32', 'minfree'],
  [64, 'i32', 'old_rotdelay'],
  [68, 'i32', 'old_rps'],
  [72, 'i32', 'bmask'],
  [76, 'i32', 'fmask'],
  [80, 'i32', 'bshift'],
  [84, 'i32', 'fshift'],
  [88, 'i32', 'maxcontig'],
  [92, 'i32', 'maxbpg'],
  [96, 'i32', 'fragshift'],
  [100, 'i32', 'fsbtodb'],
  [104, 'i32', 'sbsize'],
  [116, 'i32', 'nindir'], // block pointers per indirect block
  [120, 'i32', 'inopb'], // inodes per block
  [124, 'i32', 'old_nspf'],
  [128, 'i32', 'optim'],
  [132, 'i32', 'old_npsect'],
  [136, 'i32', 'old_interleave'],
  [140, 'i32', 'old_trackskew'],
  [144, 'i32', 'id', 2],
  [152, 'i32', 'old_csaddr'],
  [156, 'i32', 'cssize'], // bytes of the cg summary area
  [160, 'i32', 'cgsize'],
  [168, 'i32', 'old_nsect'],
  [172, 'i32', 'old_spc'],
  [176, 'i32', 'old_ncyl'],
  [180, 'i32', 'old_cpg'],
  [184, 'u32', 'ipg'], // inodes per cg
  [188, 'i32', 'fpg'], // frags per cg
  [192, 'i32', 'old_cs_ndir'], // struct csum fs_old_cstotal
  [196, 'i32', 'old_cs_nbfree'],
  [200, 'i32', 'old_cs_nifree'],
  [204, 'i32', 'old_cs_nffree'],
  [208, 'i8', 'fmod'],
  [209, 'u8', 'clean'],
  [210, 'i8', 'ronly'],
  [211, 'u8', 'old_flags'],
  [712, 'u64', 'swuid'],
  [724, 'i32', 'cgrotor'],
  [856, 'i32', 'old_cpc'],
  [860, 'i32', 'maxbsize'],
  [864, 'u8', 'journal_version'],
  [865, 'u8', 'journal_location'],
  [868, 'u32', 'journal_flags'],
  [872, 'u64', 'journallocs', 4],
  [1000, 'i64', 'sblockloc'],
  [1008, 'i64', 'cs_ndir'], // struct csum_total fs_cstotal
  [1016, 'i64', 'cs_nbfree'],
  [1024, 'i64', 'cs_nifree'],
  [1032, 'i64', 'cs_nffree'],
  [1040, 'i64', 'cs_numclusters'],
  [1072, 'i64', 'time'],
  [1080, 'i64', 'size'], // UFS2: frags in the file system
  [1088, 'i64', 'dsize'],
  [1096, 'i64', 'csaddr'],
  [1104, 'i64', 'pendingblocks'],
  [1112, 'u32', 'pendinginodes'],
  [1196, 'u32', 'avgfilesize'],
  [1200, 'u32', 'avgfpdir'],
  [1204, 'i32', 'save_cgsize'],
  [1312, 'u32', 'flags'],
  [1316, 'i32', 'contigsumsize'],
  [1320, 'i32', 'maxsymlinklen'],
  [1324, 'i32', 'old_inodefmt'],
  [1328, 'u64', 'maxfilesize'],
  [1336, 'i64', 'qbmask'],
  [1344, 'i64', 'qfmask'],
  [1352, 'i32', 'state'],
  [1356, 'i32', 'old_postblformat'],
  [1360, 'i32', 'old_nrpos'],
  [1372, 'i32', 'magic'],
]);
export const SB_FSMNT_OFF = 212;
export const SB_VOLNAME_OFF = 680;
export type Superblock = ReturnType<typeof SUPERBLOCK.decode>;

/** struct csum: one entry per cg in the summary area at fs_csaddr (fs.h). */
export const CSUM = defineStruct(16, [
  [0, 'i32', 'ndir'],
  [4, 'i32', 'nbfree'],
  [8, 'i32', 'nifree'],
  [12, 'i32', 'nffree'],
]);

/** struct cg, the cylinder-group header; its maps follow at the offsets it names (fs.h). */
export const CG = defineStruct(168, [
  [4, 'i32', 'magic'],
  [8, 'i32', 'old_time'],
  [12, 'i32', 'cgx'], // index of this cg
  [16, 'i16', 'old_ncyl'],
  [18, 'i16', 'old_niblk'],
  [20, 'i32', 'ndblk'], // frags in this cg
  [24, 'i32', 'cs_ndir'], // struct csum cg_cs
  [28, 'i32', 'cs_nbfree'],
  [32, 'i32', 'cs_nifree'],
  [36, 'i32', 'cs_nffree'],
  [40, 'i32', 'rotor'], // last block allocated
  [44, 'i32', 'frotor'], // last frag allocated
  [48, 'i32', 'irotor'], // last inode allocated
  [52, 'i32', 'frsum', MAXFRAG], // free runs of 1..frag-1 frags inside partly used blocks
  [84, 'i32', 'old_btotoff'],
  [88, 'i32', 'old_boff'],
  [92, 'i32', 'iusedoff'], // inode-in-use bitmap
  [96, 'i32', 'freeoff'], // free-frag bitmap (1 = free)
  [100, 'i32', 'nextfreeoff'],
  [104, 'i32', 'clustersumoff'], // int32 counts of free clusters by length
  [108, 'i32', 'clusteroff'], // free-block bitmap for clustering
  [112, 'i32', 'nclusterblks'],
  [116, 'i32', 'niblk'],
  [120, 'i32', 'initediblk'], // UFS2: inodes initialised so far (lazy inode init)
  [136, 'i64', 'time'],
]);
export type CgHeader = ReturnType<typeof CG.decode>;

/** struct ufs1_dinode, 128 bytes (dinode.h). */
export const DINODE1 = defineStruct(128, [
  [0, 'u16', 'mode'],
  [2, 'i16', 'nlink'],
  [8, 'u64', 'size'],
  [16, 'i32', 'atime'],
  [20, 'i32', 'atimensec'],
  [24, 'i32', 'mtime'],
  [28, 'i32', 'mtimensec'],
  [32, 'i32', 'ctime'],
  [36, 'i32', 'ctimensec'],
  [40, 'i32', 'db', NDADDR], // direct block addresses, in frags
  [88, 'i32', 'ib', NIADDR], // single, double, triple indirect
  [100, 'u32', 'flags'],
  [104, 'u32', 'blocks'], // DEV_BSIZE units held
  [108, 'i32', 'gen'],
  [112, 'u32', 'uid'],
  [116, 'u32', 'gid'],
]);

/** struct ufs2_dinode, 256 bytes (dinode.h). */
export const DINODE2 = defineStruct(256, [
  [0, 'u16', 'mode'],
  [2, 'i16', 'nlink'],
  [4, 'u32', 'uid'],
  [8, 'u32', 'gid'],
  [12, 'u32', 'blksize'],
  [16, 'u64', 'size'],
  [24, 'u64', 'blocks'],
  [32, 'i64', 'atime'],
  [40, 'i64', 'mtime'],
  [48, 'i64', 'ctime'],
  [56, 'i64', 'birthtime'],
  [64, 'i32', 'mtimensec'],
  [68, 'i32', 'atimensec'],
  [72, 'i32', 'ctimensec'],
  [76, 'i32', 'birthnsec'],
  [80, 'i32', 'gen'],
  [84, 'u32', 'kernflags'],
  [88, 'u32', 'flags'],
  [92, 'i32', 'extsize'], // bytes of the extended-attribute area
  [96, 'i64', 'extb', NXADDR],
  [112, 'i64', 'db', NDADDR],
  [208, 'i64', 'ib', NIADDR],
]);
/** Where the block pointers start: short symlinks are stored there instead (dinode.h di_shortlink). */
export const SHORTLINK_OFF_UFS1 = DINODE1.offsetOf('db');
export const SHORTLINK_OFF_UFS2 = DINODE2.offsetOf('db');

/** struct direct header (dir.h, FS_44INODEFMT): the name follows, NUL-padded to 4 bytes. */
export const DIRECT = defineStruct(8, [
  [0, 'u32', 'ino'],
  [4, 'u16', 'reclen'],
  [6, 'u8', 'type'],
  [7, 'u8', 'namlen'],
]);
/** struct odirect header (4.2BSD directories, UFS1 before FS_44INODEFMT): a 16-bit name length, no type. */
export const ODIRECT = defineStruct(8, [
  [0, 'u32', 'ino'],
  [4, 'u16', 'reclen'],
  [6, 'u16', 'namlen'],
]);
/** Bytes a directory entry with a name of `namlen` bytes needs (dir.h UFS_DIRECTSIZ). */
export function directSize(namlen: number): number {
  return (8 + namlen + 1 + 3) & ~3;
}

/**
 * The WAPBL (write-ahead physical block log) commit header at the start of the
 * log, twice (sys/sys/wapbl_replay.h struct wapbl_wc_header); the one with the
 * higher generation is current, and head != tail means it holds transactions.
 */
export const WAPBL_WC_HEADER = defineStruct(80, [
  [0, 'u32', 'type'],
  [4, 'i32', 'len'],
  [8, 'u32', 'checksum'],
  [12, 'u32', 'generation'],
  [16, 'i32', 'fsid', 2],
  [24, 'u64', 'time'],
  [32, 'u32', 'timensec'],
  [36, 'u32', 'version'],
  [40, 'u32', 'log_dev_bshift'],
  [44, 'u32', 'fs_dev_bshift'],
  [48, 'i64', 'head'], // byte offsets from the start of the log; head == tail == 0: empty
  [56, 'i64', 'tail'],
  [64, 'i64', 'circ_off'], // start of the circular region
  [72, 'i64', 'circ_size'],
]);
/** Record types of the log (wapbl.h): "WABL" and its successors. */
export const WAPBL_WC_HEADER_TYPE = 0x5741424c;
export const WAPBL_WC_INODES = 0x5741424d;
export const WAPBL_WC_REVOCATIONS = 0x5741424e;
export const WAPBL_WC_BLOCKS = 0x5741424f;
/** struct wapbl_wc_blocklist header; `blkcount` entries of {i64 daddr, i32 unused, i32 dlen} follow at 16. */
export const WAPBL_WC_BLOCKLIST = defineStruct(16, [
  [0, 'u32', 'type'],
  [4, 'i32', 'len'],
  [8, 'i32', 'blkcount'],
]);

/**
 * struct extattr, one attribute in a UFS2 inode's extended-attribute area
 * (sys/ufs/ufs/extattr.h): the name follows at 7, the value at the header and
 * name rounded up to 8 bytes, and `contentpadlen` bytes of padding end it.
 */
export const EXTATTR = defineStruct(7, [
  [0, 'u32', 'length'], // bytes of this attribute, header to padding
  [4, 'u8', 'namespace'], // 1 user, 2 system (EXTATTR_NAMESPACE_*)
  [5, 'u8', 'contentpadlen'],
  [6, 'u8', 'namelength'],
]);
export const EXTATTR_NAMESPACE_USER = 1;
export const EXTATTR_NAMESPACE_SYSTEM = 2;
