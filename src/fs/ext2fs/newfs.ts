/**
 * mkfs for ext2/3/4 (NetBSD's newfs_ext2fs, Linux's mke2fs): lays out block
 * groups with each group's bitmaps and inode table at its start (after the
 * superblock and descriptor copies of sparse_super groups), or with flex_bg
 * those of a flex group packed into its first group,
 * writes the superblock and descriptors, then mounts the result to make the
 * root directory, lost+found and the journal with the ordinary allocator, so
 * every count and checksum comes from the same code as later writes.
 *
 * Options (`-o`): type=ext2|ext3|ext4, blocksize=, inode_size=, inode_ratio=,
 * label=, uuid=, features=a+^b or bare feature words (on/off), nolostfound (an empty root).
 */

import type { BlockDevice } from '../../dev/blockdev.js';
import { kerr } from '../../kern/error.js';
import type { KernelServices, NewfsOptions } from '../../vfs/types.js';
import { crc32c } from './crc.js';
import { newDirBlock } from './dir.js';
import { initExtentRoot, writeFile } from './file.js';
import { Ext2Fs, ROOT_INO } from './fs.js';
import { COMPAT, EXT2_MAGIC, GD, IFLAG, INCOMPAT, JBD_HDR, JBD_MAGIC, JBD_SB, RO_COMPAT, SB, SUPERBLOCK_OFFSET } from './layout.js';

const FEATURES = new Map<string, ['compat' | 'incompat' | 'ro', number]>([
  ['has_journal', ['compat', COMPAT.HAS_JOURNAL]], ['ext_attr', ['compat', COMPAT.EXT_ATTR]], ['dir_index', ['compat', COMPAT.DIR_INDEX]],
  ['filetype', ['incompat', INCOMPAT.FILETYPE]], ['extent', ['incompat', INCOMPAT.EXTENTS]], ['extents', ['incompat', INCOMPAT.EXTENTS]],
  ['64bit', ['incompat', INCOMPAT.BIT64]], ['flex_bg', ['incompat', INCOMPAT.FLEX_BG]], ['sparse_super', ['ro', RO_COMPAT.SPARSE_SUPER]], ['large_file', ['ro', RO_COMPAT.LARGE_FILE]],
  ['huge_file', ['ro', RO_COMPAT.HUGE_FILE]], ['uninit_bg', ['ro', RO_COMPAT.GDT_CSUM]], ['gdt_csum', ['ro', RO_COMPAT.GDT_CSUM]],
  ['dir_nlink', ['ro', RO_COMPAT.DIR_NLINK]], ['extra_isize', ['ro', RO_COMPAT.EXTRA_ISIZE]], ['metadata_csum', ['ro', RO_COMPAT.METADATA_CSUM]],
]);
const BASE = ['sparse_super', 'large_file', 'filetype', 'dir_index', 'ext_attr'];
const DEFAULTS: Record<string, string[]> = {
  ext2: BASE,
  ext3: [...BASE, 'has_journal'],
  ext4: [...BASE, 'has_journal', 'extent', 'flex_bg', 'huge_file', 'metadata_csum', '64bit', 'dir_nlink', 'extra_isize'],
};

function num(v: string | undefined, name: string, def: number): number {
  if (v === undefined || v === '') return def;
  const n = Number(v.replace(/k$/i, '')) * (/k$/i.test(v) ? 1024 : 1);
  if (!Number.isSafeInteger(n) || n <= 0) throw kerr('EINVAL', `ext2fs newfs: bad ${name} '${v}'`);
  return n;
}

/** mke2fs's default journal size (ext2fs_default_journal_size), in blocks; 0 = too small for one. */
function journalBlocks(blocks: number): number {
  if (blocks < 2048) return 0;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  return 32768;
}

export async function newfs(dev: BlockDevice, opts: NewfsOptions, k: KernelServices): Promise<void> {
  const o = opts.options;
  const type = o.get('type') ?? 'ext4';
  if (!(type in DEFAULTS)) throw kerr('EINVAL', `ext2fs newfs: unknown type '${type}'`);
  const size = dev.size;
  if (size < 1024 * 1024) throw kerr('EINVAL', 'ext2fs newfs: at least 1 MiB is needed');
  const bs = num(o.get('blocksize') ?? o.get('b'), 'blocksize', size < 512 * 1024 * 1024 ? 1024 : 4096);
  if (bs < 1024 || bs > 65536 || (bs & (bs - 1))) throw kerr('EINVAL', `ext2fs newfs: block size ${bs}`);
  const inodeSize = num(o.get('inode_size') ?? o.get('I'), 'inode_size', 256);
  if (inodeSize < 128 || inodeSize > bs || (inodeSize & (inodeSize - 1))) throw kerr('EINVAL', `ext2fs newfs: inode size ${inodeSize}`);
  const ratio = num(o.get('inode_ratio') ?? o.get('i'), 'inode_ratio', size < 3 * 1024 * 1024 ? 8192 : size < 512 * 1024 * 1024 ? 4096 : 16384);

  const feat = { compat: 0, incompat: 0, ro: 0 };
  const names = new Set(DEFAULTS[type]);
  // Features come as features=a+^b, or as bare option words (`-o type=ext4,^metadata_csum,uninit_bg`).
  const KNOWN = new Set(['type', 'blocksize', 'b', 'inode_size', 'I', 'inode_ratio', 'i', 'label', 'uuid', 'features', 'O', 'nolostfound']);
  const words: string[] = [];
  for (const [key, v] of o) {
    if (KNOWN.has(key)) continue;
    if (v === '' && FEATURES.has(key.replace(/^\^/, ''))) words.push(key);
    else throw kerr('EINVAL', `ext2fs newfs: unknown option '${key}'`);
  }
  for (const f of [...(o.get('features') ?? o.get('O') ?? '').split(/[,+]/), ...words].filter(Boolean)) {
    const off = f.startsWith('^');
    const name = off ? f.slice(1) : f;
    if (!FEATURES.has(name)) throw kerr('EINVAL', `ext2fs newfs: unsupported feature '${name}'`);
    if (off) names.delete(name);
    else names.add(name);
  }
  if (names.has('metadata_csum')) names.delete('uninit_bg'), names.delete('gdt_csum');
  if (inodeSize === 128) names.delete('extra_isize');
  for (const n of names) {
    const [kind, bit] = FEATURES.get(n)!;
    feat[kind] |= bit;
  }

  // Geometry.
  const firstDataBlock = bs === 1024 ? 1 : 0;
  let blocksCount = Math.floor(size / bs);
  if (blocksCount > 0xffffffff && !(feat.incompat & INCOMPAT.BIT64)) blocksCount = 0xffffffff;
  const bpg = bs * 8;
  const descSize = feat.incompat & INCOMPAT.BIT64 ? 64 : 32;
  const perDescBlock = bs / descSize;
  let groupCount = 0, ipg = 0, itb = 0, gdtBlocks = 0;
  const layout = (): void => {
    groupCount = Math.ceil((blocksCount - firstDataBlock) / bpg);
    const inodes = Math.max(Math.floor((blocksCount * bs) / ratio), 16);
    const perItb = bs / inodeSize;
    ipg = Math.ceil(inodes / groupCount);
    ipg = Math.ceil(ipg / perItb) * perItb;
    ipg = Math.ceil(ipg / 8) * 8;
    ipg = Math.min(ipg, bs * 8, Math.floor(0xffffffff / groupCount));
    itb = (ipg * inodeSize) / bs;
    gdtBlocks = Math.ceil(groupCount / perDescBlock);
  };
  layout();
  // A last group too small for its own tables is dropped, as mke2fs does.
  const lastLen = blocksCount - firstDataBlock - (groupCount - 1) * bpg;
  if (groupCount > 1 && lastLen < 2 + itb + gdtBlocks + 50) {
    blocksCount -= lastLen;
    layout();
  }
  const fs0 = { feat };
  const hasSuper = (g: number): boolean => {
    if (g <= 1 || !(fs0.feat.ro & RO_COMPAT.SPARSE_SUPER)) return true;
    if (!(g & 1)) return false;
    for (const p of [3, 5, 7]) {
      let x = p;
      while (x < g) x *= p;
      if (x === g) return true;
    }
    return false;
  };
  const groupStart = (g: number): number => firstDataBlock + g * bpg;
  const groupLen = (g: number): number => Math.min(bpg, blocksCount - groupStart(g));
  // Each group's blocks in use start at its first block: superblock and descriptor copies, then the tables.
  // With flex_bg the tables of a flex group (2^k groups) are packed into its first group, as mke2fs does;
  // k is the largest (up to 4) for which they fit there.
  interface G { bb: number; ib: number; it: number; used: number; }
  const metaOf = (g: number): number => (hasSuper(g) ? 1 + gdtBlocks : 0);
  let flex = 1;
  if (feat.incompat & INCOMPAT.FLEX_BG) {
    for (flex = 16; flex > 1; flex >>= 1) {
      let fits = true;
      for (let g0 = 0; g0 < groupCount && fits; g0 += flex) {
        const n = Math.min(flex, groupCount - g0);
        fits = metaOf(g0) + n * (2 + itb) <= groupLen(g0);
      }
      if (fits) break;
    }
  }
  const groups: G[] = [];
  for (let g = 0; g < groupCount; g++) {
    const g0 = g - (g % flex);
    const n = Math.min(flex, groupCount - g0);
    const base = groupStart(g0) + metaOf(g0);
    const i = g - g0;
    groups.push({ bb: base + i, ib: base + n + i, it: base + 2 * n + i * itb, used: metaOf(g) + (g === g0 ? n * (2 + itb) : 0) });
    if (groups[g]!.used > groupLen(g)) throw kerr('EINVAL', `ext2fs newfs: group ${g} too small for its tables`);
  }
  const inodesCount = ipg * groupCount;
  if (inodesCount < 16) throw kerr('EINVAL', 'ext2fs newfs: too few inodes');

  // Superblock.
  const uuid = new Uint8Array(16);
  const uuidOpt = o.get('uuid');
  if (uuidOpt) {
    const hex = uuidOpt.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw kerr('EINVAL', `ext2fs newfs: bad uuid '${uuidOpt}'`);
    for (let i = 0; i < 16; i++) uuid[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  } else {
    k.random(uuid);
    uuid[6] = (uuid[6]! & 0x0f) | 0x40;
    uuid[8] = (uuid[8]! & 0x3f) | 0x80;
  }
  const hashSeed = new Uint8Array(16);
  k.random(hashSeed);
  const label = new TextEncoder().encode(o.get('label') ?? opts.label ?? '').subarray(0, 16);
  const now = k.now().sec >>> 0;
  let freeBlocks = 0;
  for (let g = 0; g < groupCount; g++) freeBlocks += groupLen(g) - groups[g]!.used;
  const sbRaw = new Uint8Array(1024);
  const sbv = new DataView(sbRaw.buffer);
  const reserved = Math.floor(blocksCount * 0.05);
  SB.encode({
    inodesCount, blocksCountLo: blocksCount >>> 0, blocksCountHi: Math.floor(blocksCount / 0x100000000),
    rBlocksCountLo: reserved >>> 0, freeBlocksLo: freeBlocks >>> 0, freeBlocksHi: Math.floor(freeBlocks / 0x100000000),
    freeInodes: inodesCount - 10, firstDataBlock, logBlockSize: Math.log2(bs / 1024), logClusterSize: Math.log2(bs / 1024),
    blocksPerGroup: bpg, clustersPerGroup: bpg, inodesPerGroup: ipg, wtime: now, maxMntCount: 0xffff, magic: EXT2_MAGIC,
    state: 1, errors: 1, lastCheck: now, revLevel: 1, firstIno: 11, inodeSize, featureCompat: feat.compat,
    featureIncompat: feat.incompat, featureRoCompat: feat.ro, uuid, volumeName: label, hashSeed, defHashVersion: 1,
    descSize: descSize === 64 ? 64 : 0, mkfsTime: now, minExtraIsize: feat.ro & RO_COMPAT.EXTRA_ISIZE ? 32 : 0,
    wantExtraIsize: feat.ro & RO_COMPAT.EXTRA_ISIZE ? 32 : 0, flags: 1, checksumType: feat.ro & RO_COMPAT.METADATA_CSUM ? 1 : 0,
    defaultMountOpts: 0x000c, logGroupsPerFlex: flex > 1 || feat.incompat & INCOMPAT.FLEX_BG ? Math.log2(flex) : 0,
  }, sbv);

  // Descriptors, bitmaps and zeroed inode tables.
  const gdt = new Uint8Array(gdtBlocks * bs);
  const gdv = new DataView(gdt.buffer);
  const zero = new Uint8Array(Math.min(itb * bs, 4 * 1024 * 1024));
  for (let g = 0; g < groupCount; g++) {
    const G = groups[g]!;
    const inodesUsed = g === 0 ? 10 : 0;
    GD.encode({
      blockBitmapLo: G.bb >>> 0, blockBitmapHi: Math.floor(G.bb / 0x100000000), inodeBitmapLo: G.ib >>> 0,
      inodeBitmapHi: Math.floor(G.ib / 0x100000000), inodeTableLo: G.it >>> 0, inodeTableHi: Math.floor(G.it / 0x100000000),
      freeBlocksLo: (groupLen(g) - G.used) & 0xffff, freeBlocksHi: (groupLen(g) - G.used) >>> 16,
      freeInodesLo: (ipg - inodesUsed) & 0xffff, freeInodesHi: (ipg - inodesUsed) >>> 16,
      usedDirsLo: g === 0 ? 1 : 0, flags: feat.ro & (RO_COMPAT.METADATA_CSUM | RO_COMPAT.GDT_CSUM) ? 4 : 0,
    }, descSize === 64 ? gdv : new DataView(new ArrayBuffer(64)), descSize === 64 ? g * 64 : 0);
    if (descSize === 32) {
      const tmp = new DataView(new ArrayBuffer(64));
      GD.encode({
        blockBitmapLo: G.bb, inodeBitmapLo: G.ib, inodeTableLo: G.it, freeBlocksLo: groupLen(g) - G.used,
        freeInodesLo: ipg - inodesUsed, usedDirsLo: g === 0 ? 1 : 0, flags: feat.ro & (RO_COMPAT.METADATA_CSUM | RO_COMPAT.GDT_CSUM) ? 4 : 0,
      }, tmp);
      gdt.set(new Uint8Array(tmp.buffer, 0, 32), g * 32);
    }
    const bbm = new Uint8Array(bs);
    for (let r = 0; r < G.used; r++) bbm[r >> 3]! |= 1 << (r & 7);
    for (let r = groupLen(g); r < bs * 8; r++) bbm[r >> 3]! |= 1 << (r & 7);
    await dev.write(bbm, G.bb * bs);
    const ibm = new Uint8Array(bs);
    for (let r = 0; r < inodesUsed; r++) ibm[r >> 3]! |= 1 << (r & 7);
    for (let r = ipg; r < bs * 8; r++) ibm[r >> 3]! |= 1 << (r & 7);
    await dev.write(ibm, G.ib * bs);
    for (let off = 0; off < itb * bs; off += zero.length) await dev.write(zero.subarray(0, Math.min(zero.length, itb * bs - off)), G.it * bs + off);
  }
  if (feat.ro & RO_COMPAT.METADATA_CSUM) sbv.setUint32(SB.f.checksum.off, crc32c(0xffffffff, sbRaw, 0, SB.f.checksum.off), true);
  // Block 0 (boot area and, for larger blocks, the superblock) starts zeroed.
  await dev.write(new Uint8Array(bs === 1024 ? 1024 : bs), 0);
  await dev.write(sbRaw, SUPERBLOCK_OFFSET);
  await dev.write(gdt, (firstDataBlock + 1) * bs);

  // Now an ordinary mount makes the rest, with its own allocator and checksums.
  const fs = new Ext2Fs(dev, { readonly: false, verify: false }, k);
  await fs.load();
  fs.mounting = false;
  fs.markAllGroupsDirty();
  fs.markSuperDirty();
  const time = k.now();
  for (const ino of [1, 3, 4, 5, 6, 7, 9, 10]) {
    const ip = fs.newInode(ino);
    ip.generation = 0;
    ip.extraIsize = 0;
    if (fs.csum) ip.csumSeed = fs.inodeSeed(ino, 0);
    await fs.writeInode(ip);
  }
  const mkdirAt = async (ino: number, parent: number, mode: number): Promise<void> => {
    const ip = fs.newInode(ino);
    ip.mode = 0o040000 | mode;
    ip.links = 2;
    ip.atime = ip.mtime = ip.ctime = time;
    if (ip.hasExtra(0x98)) ip.crtime = time;
    if (fs.extents) initExtentRoot(ip);
    await writeFile(fs, ip, newDirBlock(fs, ip, ino, parent), 0);
    await fs.flushInode(ip);
  };
  await mkdirAt(ROOT_INO, ROOT_INO, 0o755);
  const root = await fs.readInode(ROOT_INO);
  if (!o.has('nolostfound')) {
    const { addEntry } = await import('./dir.js');
    const lpf = await fs.allocInode(ROOT_INO, true);
    await mkdirAt(lpf, ROOT_INO, 0o700);
    await addEntry(fs, root, 'lost+found', lpf, 'dir');
    root.links++;
    fs.markDirty(root);
    await fs.flushInode(root);
  }
  if (feat.compat & COMPAT.HAS_JOURNAL) {
    const jblocks = journalBlocks(blocksCount);
    if (jblocks === 0) {
      fs.sb.featureCompat &= ~COMPAT.HAS_JOURNAL;
    } else await makeJournal(fs, jblocks, uuid, time);
  }
  await fs.sync();
  // Backups of the superblock and descriptors in the sparse_super groups.
  const primary = fs.sbRaw.slice();
  const desc = new Uint8Array(gdtBlocks * bs);
  for (const [i, b] of fs.descBlocks.entries()) {
    const bp = await fs.bread(b);
    desc.set(bp.data, i * bs);
    fs.bio.brelse(bp);
  }
  for (let g = 1; g < groupCount; g++) {
    if (!hasSuper(g)) continue;
    const copy = primary.slice();
    const dv = new DataView(copy.buffer);
    dv.setUint16(SB.f.blockGroupNr.off, g, true);
    if (fs.csum) dv.setUint32(SB.f.checksum.off, crc32c(0xffffffff, copy, 0, SB.f.checksum.off), true);
    const blk = new Uint8Array(bs);
    blk.set(copy);
    await dev.write(blk, groupStart(g) * bs);
    await dev.write(desc, (groupStart(g) + 1) * bs);
  }
  await dev.flush();
}

/** The journal inode (8): contiguous blocks, a jbd2 v2 superblock, the rest zero; its block map backed up in the superblock. */
async function makeJournal(fs: Ext2Fs, jblocks: number, uuid: Uint8Array, time: { sec: number; nsec: number }): Promise<void> {
  const bs = fs.bs;
  const ip = fs.newInode(8);
  ip.mode = 0o100600;
  ip.links = 1;
  ip.atime = ip.mtime = ip.ctime = time;
  if (fs.extents) initExtentRoot(ip);
  const jsb = new Uint8Array(bs);
  const dv = new DataView(jsb.buffer);
  JBD_HDR.encode({ magic: JBD_MAGIC, blocktype: 4, sequence: 0 }, dv);
  JBD_SB.encode({ blocksize: bs, maxlen: jblocks, first: 1, sequence: 1, start: 0, nrUsers: 1, uuid }, dv);
  await writeFile(fs, ip, jsb, 0);
  // Zero the log in large pieces.
  const chunk = new Uint8Array(Math.min(jblocks - 1, 256) * bs);
  for (let b = 1; b < jblocks; b += chunk.length / bs) {
    const n = Math.min(chunk.length / bs, jblocks - b);
    await writeFile(fs, ip, chunk.subarray(0, n * bs), b * bs);
  }
  await fs.flushInode(ip);
  const sb = fs.sb;
  sb.journalInum = 8;
  sb.jnlBackupType = 1;
  const jb = new Uint8Array(68);
  jb.set(ip.iblock);
  const jv = new DataView(jb.buffer);
  jv.setUint32(60, Math.floor(ip.size / 0x100000000), true);
  jv.setUint32(64, ip.size >>> 0, true);
  sb.jnlBlocks = jb;
  void IFLAG;
  fs.markSuperDirty();
}
