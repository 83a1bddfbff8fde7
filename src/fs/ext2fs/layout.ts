/**
 * The on-disk structures of ext2/3/4 and jbd2, each declared once as a table
 * (offset, width, name, meaning) from which decode() and encode() are derived.
 * Sources: the kernel's Documentation/filesystems/ext4 ("ext4 Data Structures
 * and Algorithms", cited as [DL §section]) and include/linux/jbd2.h for the journal.
 * All ext4 fields are little-endian; jbd2 fields are big-endian.
 */

type Kind = 'u8' | 'u16' | 'u32' | 'be16' | 'be32' | 'bytes';
export interface NumField { readonly off: number; readonly kind: Exclude<Kind, 'bytes'>; }
export interface BytesField { readonly off: number; readonly kind: 'bytes'; readonly n: number; }
type Field = NumField | BytesField;

const u8 = (off: number): NumField => ({ off, kind: 'u8' });
const u16 = (off: number): NumField => ({ off, kind: 'u16' });
const u32 = (off: number): NumField => ({ off, kind: 'u32' });
const be16 = (off: number): NumField => ({ off, kind: 'be16' });
const be32 = (off: number): NumField => ({ off, kind: 'be32' });
const bytes = (off: number, n: number): BytesField => ({ off, kind: 'bytes', n });

export type Decoded<F extends Record<string, Field>> = { [K in keyof F]: F[K] extends BytesField ? Uint8Array : number };

export interface Struct<F extends Record<string, Field>> {
  readonly name: string;
  readonly size: number;
  readonly f: F;
  /** Decodes at `base`; byte fields are copies (the structure outlives the buffer). */
  decode(dv: DataView, base?: number): Decoded<F>;
  /** Writes the fields present in `v` at `base`. */
  encode(v: Partial<Decoded<F>>, dv: DataView, base?: number): void;
}

function struct<F extends Record<string, Field>>(name: string, size: number, f: F): Struct<F> {
  const entries = Object.entries(f) as [keyof F & string, Field][];
  return {
    name,
    size,
    f,
    decode(dv, base = 0) {
      const o: Record<string, number | Uint8Array> = {};
      for (const [k, fd] of entries) {
        const p = base + fd.off;
        switch (fd.kind) {
          case 'u8': o[k] = dv.getUint8(p); break;
          case 'u16': o[k] = dv.getUint16(p, true); break;
          case 'u32': o[k] = dv.getUint32(p, true); break;
          case 'be16': o[k] = dv.getUint16(p, false); break;
          case 'be32': o[k] = dv.getUint32(p, false); break;
          case 'bytes': o[k] = new Uint8Array(dv.buffer.slice(dv.byteOffset + p, dv.byteOffset + p + fd.n)); break;
        }
      }
      return o as Decoded<F>;
    },
    encode(v, dv, base = 0) {
      for (const [k, fd] of entries) {
        const x = (v as Record<string, number | Uint8Array | undefined>)[k];
        if (x === undefined) continue;
        const p = base + fd.off;
        if (fd.kind === 'bytes') {
          const b = x as Uint8Array;
          const dst = new Uint8Array(dv.buffer, dv.byteOffset + p, fd.n);
          dst.fill(0);
          dst.set(b.subarray(0, fd.n));
          continue;
        }
        const n = x as number;
        switch (fd.kind) {
          case 'u8': dv.setUint8(p, n); break;
          case 'u16': dv.setUint16(p, n, true); break;
          case 'u32': dv.setUint32(p, n >>> 0, true); break;
          case 'be16': dv.setUint16(p, n, false); break;
          case 'be32': dv.setUint32(p, n >>> 0, false); break;
        }
      }
    },
  };
}

export const EXT2_MAGIC = 0xef53;
export const SUPERBLOCK_OFFSET = 1024;

/** The superblock, 1024 bytes at byte 1024 [DL §3.1 "The Super Block"]. */
export const SB = struct('superblock', 1024, {
  inodesCount: u32(0x00), //        s_inodes_count
  blocksCountLo: u32(0x04), //      s_blocks_count_lo
  rBlocksCountLo: u32(0x08), //     s_r_blocks_count_lo: reserved for root
  freeBlocksLo: u32(0x0c), //       s_free_blocks_count_lo
  freeInodes: u32(0x10), //         s_free_inodes_count
  firstDataBlock: u32(0x14), //     s_first_data_block: 1 for 1 KiB blocks, else 0
  logBlockSize: u32(0x18), //       s_log_block_size: block size = 1024 << this
  logClusterSize: u32(0x1c), //     s_log_cluster_size (bigalloc)
  blocksPerGroup: u32(0x20), //     s_blocks_per_group
  clustersPerGroup: u32(0x24), //   s_clusters_per_group
  inodesPerGroup: u32(0x28), //     s_inodes_per_group
  mtime: u32(0x2c), //              s_mtime: last mount
  wtime: u32(0x30), //              s_wtime: last write
  mntCount: u16(0x34), //           s_mnt_count
  maxMntCount: u16(0x36), //        s_max_mnt_count
  magic: u16(0x38), //              s_magic: 0xEF53
  state: u16(0x3a), //              s_state: 1 clean, 2 errors, 4 orphans being recovered
  errors: u16(0x3c), //             s_errors: behaviour on errors
  minorRevLevel: u16(0x3e), //      s_minor_rev_level
  lastCheck: u32(0x40), //          s_lastcheck
  checkInterval: u32(0x44), //      s_checkinterval
  creatorOs: u32(0x48), //          s_creator_os
  revLevel: u32(0x4c), //           s_rev_level: 0 original (128-byte inodes, first ino 11), 1 dynamic
  defResuid: u16(0x50), //          s_def_resuid
  defResgid: u16(0x52), //          s_def_resgid
  firstIno: u32(0x54), //           s_first_ino: first non-reserved inode
  inodeSize: u16(0x58), //          s_inode_size
  blockGroupNr: u16(0x5a), //       s_block_group_nr: group holding this copy
  featureCompat: u32(0x5c), //      s_feature_compat
  featureIncompat: u32(0x60), //    s_feature_incompat
  featureRoCompat: u32(0x64), //    s_feature_ro_compat
  uuid: bytes(0x68, 16), //         s_uuid
  volumeName: bytes(0x78, 16), //   s_volume_name
  lastMounted: bytes(0x88, 64), //  s_last_mounted
  reservedGdtBlocks: u16(0xce), //  s_reserved_gdt_blocks: for online resize
  journalUuid: bytes(0xd0, 16), //  s_journal_uuid
  journalInum: u32(0xe0), //        s_journal_inum: usually 8
  journalDev: u32(0xe4), //         s_journal_dev: external journal
  lastOrphan: u32(0xe8), //         s_last_orphan: head of the orphan inode list
  hashSeed: bytes(0xec, 16), //     s_hash_seed: htree hash seed
  defHashVersion: u8(0xfc), //      s_def_hash_version
  jnlBackupType: u8(0xfd), //       s_jnl_backup_type
  descSize: u16(0xfe), //           s_desc_size: group descriptor size when 64bit
  defaultMountOpts: u32(0x100), //  s_default_mount_opts
  firstMetaBg: u32(0x104), //       s_first_meta_bg
  mkfsTime: u32(0x108), //          s_mkfs_time
  jnlBlocks: bytes(0x10c, 68), //   s_jnl_blocks: backup of the journal inode's i_block and size
  blocksCountHi: u32(0x150), //     s_blocks_count_hi (64bit)
  rBlocksCountHi: u32(0x154), //    s_r_blocks_count_hi
  freeBlocksHi: u32(0x158), //      s_free_blocks_count_hi
  minExtraIsize: u16(0x15c), //     s_min_extra_isize
  wantExtraIsize: u16(0x15e), //    s_want_extra_isize
  flags: u32(0x160), //             s_flags: 1 signed dir hash, 2 unsigned dir hash, 4 test fs
  logGroupsPerFlex: u8(0x174), //   s_log_groups_per_flex
  checksumType: u8(0x175), //       s_checksum_type: 1 = crc32c
  kbytesWrittenLo: u32(0x178), //   s_kbytes_written (low half)
  backupBgs0: u32(0x24c), //        s_backup_bgs[0] (sparse_super2)
  backupBgs1: u32(0x250), //        s_backup_bgs[1]
  lpfIno: u32(0x268), //            s_lpf_ino
  checksumSeed: u32(0x270), //      s_checksum_seed (csum_seed feature)
  wtimeHi: u8(0x274), //            s_wtime_hi
  mtimeHi: u8(0x275), //            s_mtime_hi
  mkfsTimeHi: u8(0x276), //         s_mkfs_time_hi
  encoding: u16(0x27c), //          s_encoding (casefold)
  orphanFileInum: u32(0x280), //    s_orphan_file_inum
  checksum: u32(0x3fc), //          s_checksum: crc32c(~0, superblock[0..0x3FC])
});
export type Superblock = Decoded<typeof SB.f>;

export const COMPAT = {
  HAS_JOURNAL: 0x4, EXT_ATTR: 0x8, RESIZE_INODE: 0x10, DIR_INDEX: 0x20, SPARSE_SUPER2: 0x200, FAST_COMMIT: 0x400,
  ORPHAN_FILE: 0x1000,
} as const;
export const INCOMPAT = {
  COMPRESSION: 0x1, FILETYPE: 0x2, RECOVER: 0x4, JOURNAL_DEV: 0x8, META_BG: 0x10, EXTENTS: 0x40, BIT64: 0x80,
  MMP: 0x100, FLEX_BG: 0x200, EA_INODE: 0x400, DIRDATA: 0x1000, CSUM_SEED: 0x2000, LARGEDIR: 0x4000,
  INLINE_DATA: 0x8000, ENCRYPT: 0x10000, CASEFOLD: 0x20000,
} as const;
export const RO_COMPAT = {
  SPARSE_SUPER: 0x1, LARGE_FILE: 0x2, BTREE_DIR: 0x4, HUGE_FILE: 0x8, GDT_CSUM: 0x10, DIR_NLINK: 0x20,
  EXTRA_ISIZE: 0x40, HAS_SNAPSHOT: 0x80, QUOTA: 0x100, BIGALLOC: 0x200, METADATA_CSUM: 0x400, REPLICA: 0x800,
  READONLY: 0x1000, PROJECT: 0x2000, SHARED_BLOCKS: 0x4000, VERITY: 0x8000, ORPHAN_PRESENT: 0x10000,
} as const;

/** Incompatible features we can read; anything else refuses the mount. */
export const INCOMPAT_SUPPORTED =
  INCOMPAT.FILETYPE | INCOMPAT.RECOVER | INCOMPAT.META_BG | INCOMPAT.EXTENTS | INCOMPAT.BIT64 | INCOMPAT.FLEX_BG |
  INCOMPAT.CSUM_SEED | INCOMPAT.LARGEDIR | INCOMPAT.INLINE_DATA | INCOMPAT.MMP;
/** Read-only-compatible features we can also write; others make the mount read-only-only. */
export const RO_COMPAT_WRITABLE =
  RO_COMPAT.SPARSE_SUPER | RO_COMPAT.LARGE_FILE | RO_COMPAT.HUGE_FILE | RO_COMPAT.GDT_CSUM | RO_COMPAT.DIR_NLINK |
  RO_COMPAT.EXTRA_ISIZE | RO_COMPAT.METADATA_CSUM | RO_COMPAT.BTREE_DIR;

/** Block group descriptor, 32 bytes (64 with the 64bit feature) [DL §3.4 "Block Group Descriptors"]. */
export const GD = struct('group descriptor', 64, {
  blockBitmapLo: u32(0x00), //      bg_block_bitmap_lo
  inodeBitmapLo: u32(0x04), //      bg_inode_bitmap_lo
  inodeTableLo: u32(0x08), //       bg_inode_table_lo
  freeBlocksLo: u16(0x0c), //       bg_free_blocks_count_lo
  freeInodesLo: u16(0x0e), //       bg_free_inodes_count_lo
  usedDirsLo: u16(0x10), //         bg_used_dirs_count_lo
  flags: u16(0x12), //              bg_flags: 1 INODE_UNINIT, 2 BLOCK_UNINIT, 4 ITABLE_ZEROED
  excludeBitmapLo: u32(0x14), //    bg_exclude_bitmap_lo
  blockBitmapCsumLo: u16(0x18), //  bg_block_bitmap_csum_lo
  inodeBitmapCsumLo: u16(0x1a), //  bg_inode_bitmap_csum_lo
  itableUnusedLo: u16(0x1c), //     bg_itable_unused_lo: never-used inodes at the end of the table
  checksum: u16(0x1e), //           bg_checksum
  blockBitmapHi: u32(0x20), //      bg_block_bitmap_hi (64-byte descriptors only, as are all below)
  inodeBitmapHi: u32(0x24), //      bg_inode_bitmap_hi
  inodeTableHi: u32(0x28), //       bg_inode_table_hi
  freeBlocksHi: u16(0x2c), //       bg_free_blocks_count_hi
  freeInodesHi: u16(0x2e), //       bg_free_inodes_count_hi
  usedDirsHi: u16(0x30), //         bg_used_dirs_count_hi
  itableUnusedHi: u16(0x32), //     bg_itable_unused_hi
  excludeBitmapHi: u32(0x34), //    bg_exclude_bitmap_hi
  blockBitmapCsumHi: u16(0x38), //  bg_block_bitmap_csum_hi
  inodeBitmapCsumHi: u16(0x3a), //  bg_inode_bitmap_csum_hi
});
export type GroupDesc = Decoded<typeof GD.f>;
export const BG_INODE_UNINIT = 1;
export const BG_BLOCK_UNINIT = 2;
export const BG_INODE_ZEROED = 4;

/** The inode [DL §4.1 "Index Nodes"]: 128 bytes, then i_extra_isize bytes of extra fields. */
export const INODE = struct('inode', 160, {
  mode: u16(0x00), //               i_mode: type and permissions
  uidLo: u16(0x02), //              i_uid
  sizeLo: u32(0x04), //             i_size_lo
  atime: u32(0x08), //              i_atime
  ctime: u32(0x0c), //              i_ctime
  mtime: u32(0x10), //              i_mtime
  dtime: u32(0x14), //              i_dtime: deletion time, or next orphan
  gidLo: u16(0x18), //              i_gid
  linksCount: u16(0x1a), //         i_links_count
  blocksLo: u32(0x1c), //           i_blocks_lo: 512-byte units (fs blocks with HUGE_FILE_FL)
  flags: u32(0x20), //              i_flags
  version: u32(0x24), //            l_i_version (osd1)
  block: bytes(0x28, 60), //        i_block: block map, extent tree root, inline data or symlink target
  generation: u32(0x64), //         i_generation
  fileAclLo: u32(0x68), //          i_file_acl_lo: xattr block
  sizeHi: u32(0x6c), //             i_size_high
  blocksHi: u16(0x74), //           l_i_blocks_high
  fileAclHi: u16(0x76), //          l_i_file_acl_high
  uidHi: u16(0x78), //              l_i_uid_high
  gidHi: u16(0x7a), //              l_i_gid_high
  checksumLo: u16(0x7c), //         l_i_checksum_lo
  extraIsize: u16(0x80), //         i_extra_isize: bytes used beyond 128
  checksumHi: u16(0x82), //         i_checksum_hi (extra_isize >= 4)
  ctimeExtra: u32(0x84), //         i_ctime_extra: epoch bits (2) and nanoseconds << 2
  mtimeExtra: u32(0x88), //         i_mtime_extra
  atimeExtra: u32(0x8c), //         i_atime_extra
  crtime: u32(0x90), //             i_crtime: creation time
  crtimeExtra: u32(0x94), //        i_crtime_extra
  versionHi: u32(0x98), //          i_version_hi
  projid: u32(0x9c), //             i_projid
});
export const GOOD_OLD_INODE_SIZE = 128;

export const IFLAG = {
  INDEX: 0x1000, HUGE_FILE: 0x40000, EXTENTS: 0x80000, EA_INODE: 0x200000, INLINE_DATA: 0x10000000,
  ENCRYPT: 0x800, CASEFOLD: 0x40000000, VERITY: 0x100000,
} as const;

/** Extent tree header, 12 bytes [DL §4.2.3 "Extent Tree"]. */
export const EXT_HDR = struct('extent header', 12, {
  magic: u16(0), //                 eh_magic: 0xF30A
  entries: u16(2), //               eh_entries
  max: u16(4), //                   eh_max
  depth: u16(6), //                 eh_depth: 0 = entries are leaves
  generation: u32(8), //            eh_generation
});
export const EXT_MAGIC = 0xf30a;
/** Index entry (depth > 0), 12 bytes. */
export const EXT_IDX = struct('extent index', 12, {
  block: u32(0), //                 ei_block: first logical block covered
  leafLo: u32(4), //                ei_leaf_lo: child block
  leafHi: u16(8), //                ei_leaf_hi
});
/** Leaf entry (depth 0), 12 bytes. ee_len > 32768 marks an unwritten (uninitialised) extent. */
export const EXT_LEAF = struct('extent', 12, {
  block: u32(0), //                 ee_block: first logical block
  len: u16(4), //                   ee_len
  startHi: u16(6), //               ee_start_hi
  startLo: u32(8), //               ee_start_lo
});
export const EXT_INIT_MAX_LEN = 32768;

/** Directory entry (ext4_dir_entry_2) [DL §4.4.1 "Linear (Classic) Directories"]; the name follows at 8. */
export const DIRENT = struct('directory entry', 8, {
  inode: u32(0), //                 inode
  recLen: u16(4), //                rec_len
  nameLen: u8(6), //                name_len
  fileType: u8(7), //               file_type (filetype feature)
});
/** Checksum tail of a leaf directory block (metadata_csum), the last 12 bytes [DL §4.4.1]. */
export const DIRENT_TAIL = struct('directory block tail', 12, {
  zero1: u32(0), //                 det_reserved_zero1
  recLen: u16(4), //                det_rec_len: 12
  zero2: u8(6), //                  det_reserved_zero2
  ft: u8(7), //                     det_reserved_ft: 0xDE
  checksum: u32(8), //              det_checksum
});
export const DIRENT_TAIL_FT = 0xde;

/** Root of an htree, after the '.' and '..' entries [DL §4.4.2 "Hash Tree Directories"]. */
export const DX_ROOT_INFO = struct('dx_root_info', 8, {
  reservedZero: u32(0x18), //       reserved_zero
  hashVersion: u8(0x1c), //         hash_version
  infoLength: u8(0x1d), //          info_length: 8
  indirectLevels: u8(0x1e), //      indirect_levels
  unusedFlags: u8(0x1f), //         unused_flags
});
/** count/limit header that opens every dx_entry array (it overlays the first entry's hash). */
export const DX_COUNTLIMIT = struct('dx_countlimit', 4, {
  limit: u16(0), //                 limit: capacity of the array
  count: u16(2), //                 count: entries in use
});
export const DX_ENTRY = struct('dx_entry', 8, {
  hash: u32(0), //                  hash: lowest hash in the child
  block: u32(4), //                 block: logical block of the child
});
/** Checksum tail after `limit` dx entries (metadata_csum). */
export const DX_TAIL = struct('dx_tail', 8, {
  reserved: u32(0), //              dt_reserved
  checksum: u32(4), //              dt_checksum
});

/** Extended-attribute block header, 32 bytes [DL §4.5 "Extended Attributes"]. */
export const XATTR_HDR = struct('xattr block header', 32, {
  magic: u32(0), //                 h_magic: 0xEA020000
  refcount: u32(4), //              h_refcount
  blocks: u32(8), //                h_blocks: 1
  hash: u32(12), //                 h_hash
  checksum: u32(16), //             h_checksum: crc32c(seed, le64 block number, block)
});
export const XATTR_MAGIC = 0xea020000;
/** Extended-attribute entry; the name follows at 16, padded to 4 bytes. */
export const XATTR_ENTRY = struct('xattr entry', 16, {
  nameLen: u8(0), //                e_name_len
  nameIndex: u8(1), //              e_name_index: prefix (1 user., 4 trusted., 6 security., 7 system. ...)
  valueOffs: u16(2), //             e_value_offs: from the first entry (in-inode) or the block start
  valueInum: u32(4), //             e_value_inum: value in an EA inode (ea_inode feature)
  valueSize: u32(8), //             e_value_size
  hash: u32(12), //                 e_hash
});

/** jbd2 block header, big-endian [jbd2.h journal_header_t]. */
export const JBD_HDR = struct('journal header', 12, {
  magic: be32(0), //                h_magic: 0xC03B3998
  blocktype: be32(4), //            h_blocktype: 1 descriptor, 2 commit, 3/4 superblock v1/v2, 5 revoke
  sequence: be32(8), //             h_sequence: transaction id
});
export const JBD_MAGIC = 0xc03b3998;
/** jbd2 superblock [jbd2.h journal_superblock_t]. */
export const JBD_SB = struct('journal superblock', 1024, {
  blocksize: be32(0x0c), //         s_blocksize
  maxlen: be32(0x10), //            s_maxlen: journal length in blocks
  first: be32(0x14), //             s_first: first log block
  sequence: be32(0x18), //          s_sequence: first expected commit id
  start: be32(0x1c), //             s_start: log start block; 0 = clean
  errno: be32(0x20), //             s_errno
  featureCompat: be32(0x24), //     s_feature_compat: 1 = CHECKSUM (v1)
  featureIncompat: be32(0x28), //   s_feature_incompat: 1 REVOKE, 2 64BIT, 4 ASYNC_COMMIT, 8 CSUM_V2, 0x10 CSUM_V3, 0x20 FAST_COMMIT
  featureRoCompat: be32(0x2c), //   s_feature_ro_compat
  uuid: bytes(0x30, 16), //         s_uuid
  nrUsers: be32(0x40), //           s_nr_users
  checksumType: be32(0x50), //      s_checksum_type (u8 at 0x50, padded)
  numFcBlocks: be32(0x54), //       s_num_fc_blks
  checksum: be32(0xfc), //          s_checksum
});
export const JBD_INCOMPAT = { REVOKE: 1, BIT64: 2, ASYNC_COMMIT: 4, CSUM_V2: 8, CSUM_V3: 0x10, FAST_COMMIT: 0x20 } as const;
/** Descriptor tag with csum v3, 16 bytes [jbd2.h journal_block_tag3_t]. */
export const JBD_TAG3 = struct('journal tag3', 16, {
  blocknr: be32(0), //              t_blocknr
  flags: be32(4), //                t_flags: 1 ESCAPE, 2 SAME_UUID, 4 DELETED, 8 LAST_TAG
  blocknrHigh: be32(8), //          t_blocknr_high
  checksum: be32(12), //            t_checksum
});
/** Descriptor tag without csum v3, 8/12 bytes (+2 with csum v2) [jbd2.h journal_block_tag_t]. */
export const JBD_TAG = struct('journal tag', 12, {
  blocknr: be32(0), //              t_blocknr
  checksum: be16(4), //             t_checksum (csum v2)
  flags: be16(6), //                t_flags
  blocknrHigh: be32(8), //          t_blocknr_high (64bit)
});
/** Revoke block header after the journal header [jbd2.h jbd2_journal_revoke_header_t]. */
export const JBD_REVOKE = struct('journal revoke header', 16, {
  count: be32(12), //               r_count: bytes used, header included
});
