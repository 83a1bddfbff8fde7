/**
 * Extended attributes [DL §4.5]: entries in the inode's extra space after
 * i_extra_isize and in one attribute block (i_file_acl), read as one list and
 * written back by packing the inode area first, then the block. The inline-data
 * feature keeps its overflow here too, as `system.data`.
 */

import { kerr } from '../../kern/error.js';
import type { Ext2Fs } from './fs.js';
import { corrupt } from './fs.js';
import type { Inode } from './inode.js';
import { GOOD_OLD_INODE_SIZE, XATTR_ENTRY, XATTR_HDR, XATTR_MAGIC } from './layout.js';

export interface Xattr {
  index: number;
  /** The name after the prefix the index stands for. */
  name: string;
  value: Uint8Array;
  /** Kept in the inode (system.data must be). */
  inInode?: boolean;
}

const PREFIX = new Map<number, string>([
  [1, 'user.'], [2, 'system.posix_acl_access'], [3, 'system.posix_acl_default'], [4, 'trusted.'], [6, 'security.'],
  [7, 'system.'], [8, 'system.richacl'],
]);

export function fullName(x: { index: number; name: string }): string {
  const p = PREFIX.get(x.index);
  return p === undefined ? `unknown${x.index}.${x.name}` : p + x.name;
}

/** Splits 'user.foo' into its index and suffix; EOPNOTSUPP for namespaces ext4 does not store. */
export function splitName(full: string): { index: number; name: string } {
  if (full === 'system.posix_acl_access') return { index: 2, name: '' };
  if (full === 'system.posix_acl_default') return { index: 3, name: '' };
  for (const [i, p] of [[1, 'user.'], [4, 'trusted.'], [6, 'security.'], [7, 'system.']] as const) {
    if (full.startsWith(p) && full.length > p.length) return { index: i, name: full.slice(p.length) };
  }
  throw kerr('EOPNOTSUPP', `ext2fs: attribute namespace of '${full}' not supported`);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function parse(fs: Ext2Fs, data: Uint8Array, start: number, end: number, valueBase: number, what: string, inInode: boolean): Xattr[] {
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  const out: Xattr[] = [];
  let p = start;
  while (p + 4 <= end && dv.getUint32(p, true) !== 0) {
    if (p + 16 > end) throw corrupt(fs, `${what}: attribute entry runs past the end`);
    const e = XATTR_ENTRY.decode(dv, p);
    const nameEnd = p + 16 + e.nameLen;
    if (nameEnd > end) throw corrupt(fs, `${what}: attribute name runs past the end`);
    if (e.valueInum !== 0) throw corrupt(fs, `${what}: attribute values in inodes (ea_inode) are not supported`);
    const vs = valueBase + e.valueOffs;
    if (e.valueSize > 0 && (vs < start || vs + e.valueSize > end)) throw corrupt(fs, `${what}: attribute value outside its area`);
    out.push({
      index: e.nameIndex,
      name: dec.decode(data.subarray(p + 16, nameEnd)),
      value: data.slice(vs, vs + e.valueSize),
      inInode,
    });
    p = (nameEnd + 3) & ~3;
    if (out.length > 4096) throw corrupt(fs, `${what}: too many attributes`);
  }
  return out;
}

/** Byte range of the in-inode attribute area, or null when there is none. */
function inodeArea(ip: Inode): { start: number; end: number } | null {
  if (ip.inodeSize <= GOOD_OLD_INODE_SIZE) return null;
  const start = GOOD_OLD_INODE_SIZE + ip.extraIsize;
  if (start + 4 > ip.inodeSize) return null;
  return { start, end: ip.inodeSize };
}

export function readInodeXattrs(fs: Ext2Fs, ip: Inode): Xattr[] {
  const a = inodeArea(ip);
  if (!a || ip.dv.getUint32(a.start, true) !== XATTR_MAGIC) return [];
  return parse(fs, ip.raw, a.start + 4, a.end, a.start + 4, `inode ${ip.ino}: in-inode attributes`, true);
}

export async function readBlockXattrs(fs: Ext2Fs, ip: Inode): Promise<Xattr[]> {
  if (!ip.fileAcl) return [];
  const blk = ip.fileAcl;
  fs.checkBlock(blk, 1, `inode ${ip.ino}: attribute block`);
  const bp = await fs.bread(blk);
  const data = bp.data.slice();
  fs.bio.brelse(bp);
  const dv = new DataView(data.buffer);
  const h = XATTR_HDR.decode(dv);
  const what = `inode ${ip.ino}: attribute block ${blk}`;
  if (h.magic !== XATTR_MAGIC || h.blocks !== 1) throw corrupt(fs, `${what}: bad header magic 0x${h.magic.toString(16)}`);
  if (fs.csum && fs.opts.verify) {
    const c = fs.xattrBlockChecksum(blk, data);
    if (c !== h.checksum) throw corrupt(fs, `${what}: checksum 0x${h.checksum.toString(16)} != 0x${c.toString(16)}`);
  }
  return parse(fs, data, 32, fs.bs, 0, what, false);
}

export async function readXattrs(fs: Ext2Fs, ip: Inode): Promise<Xattr[]> {
  return [...readInodeXattrs(fs, ip), ...(await readBlockXattrs(fs, ip))];
}

function entryHash(x: Xattr, nameBytes: Uint8Array): number {
  let h = 0;
  for (const c of nameBytes) h = ((h << 5) ^ (h >>> 27) ^ c) >>> 0;
  if (x.value.length) {
    const padded = new Uint8Array((x.value.length + 3) & ~3);
    padded.set(x.value);
    const dv = new DataView(padded.buffer);
    for (let i = 0; i < padded.length; i += 4) h = ((h << 16) ^ (h >>> 16) ^ dv.getUint32(i, true)) >>> 0;
  }
  return h;
}

const entrySize = (nameLen: number): number => (16 + nameLen + 3) & ~3;
const valueSize = (n: number): number => (n + 3) & ~3;

/** Packs entries into [start, end) with values growing down from `end`; offsets relative to `valueBase`. Returns hashes. */
function pack(data: Uint8Array, start: number, end: number, valueBase: number, list: Xattr[]): number[] {
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  data.fill(0, start, end);
  let p = start;
  let v = end;
  const hashes: number[] = [];
  for (const x of list) {
    const nb = enc.encode(x.name);
    v -= valueSize(x.value.length);
    data.set(x.value, v);
    const h = entryHash(x, nb);
    hashes.push(h);
    XATTR_ENTRY.encode({ nameLen: nb.length, nameIndex: x.index, valueOffs: x.value.length ? v - valueBase : 0, valueInum: 0, valueSize: x.value.length, hash: h }, dv, p);
    data.set(nb, p + 16);
    p += entrySize(nb.length);
  }
  return hashes;
}

function need(list: Xattr[]): number {
  let n = 4; // terminator
  for (const x of list) n += entrySize(enc.encode(x.name).length) + valueSize(x.value.length);
  return n;
}

/** Writes the whole attribute list back: system.data and as much else as fits in the inode, the rest in a block. */
export async function writeXattrs(fs: Ext2Fs, ip: Inode, list: Xattr[]): Promise<void> {
  const a = inodeArea(ip);
  const inInode: Xattr[] = [];
  const inBlock: Xattr[] = [];
  const room = a ? a.end - a.start - 4 : 0;
  const sorted = [...list].sort((x, y) => (y.index === 7 && y.name === 'data' ? 1 : 0) - (x.index === 7 && x.name === 'data' ? 1 : 0));
  for (const x of sorted) {
    if (need([...inInode, x]) <= room) inInode.push(x);
    else if (x.index === 7 && x.name === 'data') throw kerr('ENOSPC', `ext2fs: inode ${ip.ino}: inline data does not fit`);
    else inBlock.push(x);
  }
  if (a) {
    if (inInode.length) {
      ip.dv.setUint32(a.start, XATTR_MAGIC, true);
      pack(ip.raw, a.start + 4, a.end, a.start + 4, inInode);
    } else ip.raw.fill(0, a.start, a.end);
  }
  // Block part: sorted as the kernel keeps it (index, name length, name).
  inBlock.sort((x, y) => x.index - y.index || x.name.length - y.name.length || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  if (need(inBlock) + 32 > fs.bs) throw kerr('ENOSPC', `ext2fs: inode ${ip.ino}: attributes do not fit`);
  let blk = ip.fileAcl;
  if (blk) {
    // A shared block (refcount > 1) is left to its other users.
    const bp = await fs.bread(blk);
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, fs.bs);
    const refs = dv.getUint32(4, true);
    if (refs > 1) {
      dv.setUint32(4, refs - 1, true);
      if (fs.csum) dv.setUint32(16, fs.xattrBlockChecksum(blk, bp.data), true);
      fs.bio.bdwrite(bp);
      blk = 0;
      ip.fileAcl = 0;
      ip.blocks512 -= fs.bs / 512;
    } else fs.bio.brelse(bp);
  }
  if (!inBlock.length) {
    if (blk) {
      await fs.freeBlockRun(blk, 1);
      ip.fileAcl = 0;
      ip.blocks512 -= fs.bs / 512;
    }
  } else {
    if (!blk) {
      blk = (await fs.allocBlocks(fs.groupFirstBlock(Math.floor((ip.ino - 1) / fs.ipg)), 1)).start;
      ip.fileAcl = blk;
      ip.blocks512 += fs.bs / 512;
    }
    const bp = await fs.getblk(blk);
    const d = bp.data;
    d.fill(0);
    const dv = new DataView(d.buffer, d.byteOffset, fs.bs);
    const hashes = pack(d, 32, fs.bs, 0, inBlock);
    let bh = 0;
    for (const h of hashes) bh = ((bh << 16) ^ (bh >>> 16) ^ h) >>> 0;
    XATTR_HDR.encode({ magic: XATTR_MAGIC, refcount: 1, blocks: 1, hash: bh, checksum: 0 }, dv);
    if (fs.csum) dv.setUint32(16, fs.xattrBlockChecksum(blk, d), true);
    fs.bio.bdwrite(bp);
  }
  fs.markDirty(ip);
}

