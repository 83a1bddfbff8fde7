/**
 * Directories: linear blocks of variable-length entries [DL §4.4.1], the
 * hashed (htree) index over them [DL §4.4.2], and inline directories kept in
 * the inode [DL §4.4.3 "Inline Directories" / §4.1.5]. Lookup in an indexed
 * directory follows the index to one leaf block; additions go to the leaf the
 * index names while it has room — otherwise the index is dropped (the flag
 * cleared, index blocks turned into empty leaf blocks) and the directory
 * continues as a valid linear one.
 */

import { kerr } from '../../kern/error.js';
import type { VType } from '../../vfs/types.js';
import { crc32c } from './crc.js';
import { DX_HASH, dirhash } from './dirhash.js';
import { initExtentRoot, inlineBytes, writeFile } from './file.js';
import type { Ext2Fs, Walk } from './fs.js';
import { corrupt } from './fs.js';
import type { Inode } from './inode.js';
import type { Buf } from '../../vfs/bio.js';
import { DIRENT, DIRENT_TAIL, DIRENT_TAIL_FT, DX_COUNTLIMIT, DX_ENTRY, DX_ROOT_INFO, IFLAG, INCOMPAT } from './layout.js';
import { readXattrs, writeXattrs } from './xattr.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export const FT_TO_VTYPE: (VType | undefined)[] = [undefined, 'reg', 'dir', 'chr', 'blk', 'fifo', 'sock', 'lnk'];
export function vtypeToFt(t: VType): number {
  return { reg: 1, dir: 2, chr: 3, blk: 4, fifo: 5, sock: 6, lnk: 7 }[t];
}

export interface RawEntry {
  off: number;
  inode: number;
  recLen: number;
  nameLen: number;
  type: number;
}

function recLenFromDisk(v: number, bs: number): number {
  if (bs < 65536) return v;
  if (v === 65535 || v === 0) return bs;
  return (v & 65532) | ((v & 3) << 16);
}
function recLenToDisk(len: number, bs: number): number {
  if (bs < 65536) return len;
  if (len === bs) return 65535;
  return (len & 65532) | ((len >> 16) & 3);
}
const entryLen = (nameLen: number): number => (8 + nameLen + 3) & ~3;

/** Whether the block ends with a metadata_csum tail. */
function hasTail(d: Uint8Array, bs: number): boolean {
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  const t = bs - 12;
  return dv.getUint32(t, true) === 0 && dv.getUint16(t + 4, true) === 12 && d[t + 6] === 0 && d[t + 7] === DIRENT_TAIL_FT;
}

/** Parses the entries of [start, end) of a directory buffer, validating every rec_len. */
export function parseEntries(fs: Ext2Fs, d: Uint8Array, start: number, end: number, what: string): RawEntry[] {
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  const out: RawEntry[] = [];
  let off = start;
  while (off < end) {
    if (off + 8 > end) throw corrupt(fs, `${what}: entry header at ${off} runs past the block`);
    const inode = dv.getUint32(off, true);
    const recLen = recLenFromDisk(dv.getUint16(off + 4, true), fs.bs);
    const nameLen = d[off + 6]!;
    if (recLen < 8 || recLen % 4 || off + recLen > end || (inode && 8 + nameLen > recLen)) {
      throw corrupt(fs, `${what}: bad entry at offset ${off} (rec_len ${recLen}, name_len ${nameLen})`);
    }
    if (inode > fs.sb.inodesCount) throw corrupt(fs, `${what}: entry at offset ${off} names inode ${inode} out of range`);
    out.push({ off, inode, recLen, nameLen, type: fs.filetype ? d[off + 7]! & 7 : 0 });
    off += recLen;
  }
  return out;
}

function nameEq(d: Uint8Array, off: number, name: Uint8Array): boolean {
  for (let i = 0; i < name.length; i++) if (d[off + 8 + i] !== name[i]) return false;
  return true;
}

/** Logical blocks to walk in a directory: its size, but never more than the blocks it owns (a hostile size would be a long walk over holes). */
export function dirBlocks(fs: Ext2Fs, ip: Inode): number {
  const owned = Math.ceil((ip.blocks512 * 512) / fs.bs);
  return Math.min(Math.floor(ip.size / fs.bs), owned, 1 << 22);
}

/** Reads logical directory block `lblk` through the buffer cache, verifying its checksum tail. Held: release it. */
function dirBlock(fs: Ext2Fs, ip: Inode, lblk: number): Promise<{ bp: Buf; pblk: number } | null> {
  return fs.run(dirBlockW(fs, ip, lblk));
}

function* dirBlockW(fs: Ext2Fs, ip: Inode, lblk: number): Walk<{ bp: Buf; pblk: number } | null> {
  const m = yield* fs.mapW(ip, lblk, 1);
  if (m.pblk === 0 || m.uninit) return null;
  const bp = yield* fs.breadW(m.pblk);
  return { bp, pblk: m.pblk };
}

/** Where the entries of a directory block end: before the checksum tail of a leaf; htree nodes have none. */
function leafEnd(fs: Ext2Fs, d: Uint8Array, ip?: Inode, lblk = -1): number {
  if (ip && lblk >= 0 && isDxNode(fs, ip, d, lblk)) return fs.bs;
  return fs.csum && hasTail(d, fs.bs) ? fs.bs - 12 : fs.bs;
}

/** Whether a block of an indexed directory is an htree node (root, or interior with its one empty entry spanning the block). */
function isDxNode(fs: Ext2Fs, ip: Inode, d: Uint8Array, lblk: number): boolean {
  if (!(ip.flags & IFLAG.INDEX)) return false;
  if (lblk === 0) return true;
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  return dv.getUint32(0, true) === 0 && recLenFromDisk(dv.getUint16(4, true), fs.bs) === fs.bs;
}

function verifyLeaf(fs: Ext2Fs, ip: Inode, d: Uint8Array, lblk: number): void {
  if (!fs.csum || !fs.opts.verify || fs.verified.has(d) || !hasTail(d, fs.bs)) return;
  // htree nodes carry a dx_tail, which the kernel lays out so that it also looks like a dirent tail.
  if (isDxNode(fs, ip, d, lblk)) return;
  const have = new DataView(d.buffer, d.byteOffset).getUint32(fs.bs - 4, true);
  const want = crc32c(ip.csumSeed, d, 0, fs.bs - 12);
  if (have !== want) throw corrupt(fs, `directory inode ${ip.ino} block ${lblk}: checksum 0x${have.toString(16)} != 0x${want.toString(16)}`);
  fs.verified.add(d);
}

function setLeafCsum(fs: Ext2Fs, ip: Inode, d: Uint8Array): void {
  if (!fs.csum || !hasTail(d, fs.bs)) return;
  new DataView(d.buffer, d.byteOffset).setUint32(fs.bs - 4, crc32c(ip.csumSeed, d, 0, fs.bs - 12), true);
}

/**
 * Marks a changed leaf whose checksum can wait until the block is written (the buffer cache calls back
 * then), so a leaf receiving many entries between writes is checksummed once. Only a buffer already
 * verified (or a mount that does not verify) may carry a stale checksum in memory: a read of it is
 * never checked again.
 */
function deferLeafCsum(fs: Ext2Fs, ip: Inode, bp: Buf): void {
  if (!fs.csum || !hasTail(bp.data, fs.bs)) return;
  if (fs.opts.verify && !fs.verified.has(bp.data)) {
    setLeafCsum(fs, ip, bp.data);
    return;
  }
  bp.prewrite = (d) => setLeafCsum(fs, ip, d);
}

function writeTail(fs: Ext2Fs, d: Uint8Array): void {
  DIRENT_TAIL.encode({ zero1: 0, recLen: 12, zero2: 0, ft: DIRENT_TAIL_FT, checksum: 0 }, new DataView(d.buffer, d.byteOffset, d.length), fs.bs - 12);
}

// ---------------------------------------------------------------- inline directories

function inlineEntries(fs: Ext2Fs, ip: Inode): { data: Uint8Array; entries: RawEntry[]; parent: number } {
  const data = inlineBytes(fs, ip);
  const parent = new DataView(data.buffer).getUint32(0, true);
  const entries = [
    ...parseEntries(fs, data, 4, 60, `inline directory ${ip.ino}`),
    ...(data.length > 60 ? parseEntries(fs, data, 60, data.length, `inline directory ${ip.ino}`) : []),
  ];
  return { data, entries, parent };
}

async function writeInline(fs: Ext2Fs, ip: Inode, data: Uint8Array): Promise<void> {
  ip.iblock.set(data.subarray(0, 60));
  if (data.length > 60) {
    const rest = (await readXattrs(fs, ip)).filter((x) => !(x.index === 7 && x.name === 'data'));
    await writeXattrs(fs, ip, [{ index: 7, name: 'data', value: data.slice(60) }, ...rest]);
  }
  fs.markDirty(ip);
}

// ---------------------------------------------------------------- htree

interface DxLevel { lblk: number; data: Uint8Array; countOff: number; count: number; limit: number; at: number; entries: { hash: number; block: number }[]; }

function dxVersion(fs: Ext2Fs, v: number): number {
  return v <= DX_HASH.TEA && fs.hashUnsigned ? v + 3 : v;
}

/** dx_tail checksum: the live part of the node, then the tail with its checksum field as zero. */
function dxChecksum(ip: Inode, d: Uint8Array, countOff: number, limit: number, count: number): number {
  const tail = countOff + limit * 8;
  let c = crc32c(ip.csumSeed, d, 0, countOff + count * 8);
  c = crc32c(c, d, tail, tail + 4);
  return crc32c(c, ZERO4);
}
const ZERO4 = new Uint8Array(4);

function verifyDx(fs: Ext2Fs, ip: Inode, d: Uint8Array, countOff: number, limit: number, count: number, what: string): void {
  if (!fs.csum || !fs.opts.verify) return;
  const tail = countOff + limit * 8;
  if (tail + 8 > fs.bs) return;
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  const c = dxChecksum(ip, d, countOff, limit, count);
  const have = dv.getUint32(tail + 4, true);
  if (have !== c) throw corrupt(fs, `${what}: htree node checksum 0x${have.toString(16)} != 0x${c.toString(16)}`);
}

function dxLimit(fs: Ext2Fs, countOff: number): number {
  return Math.floor((fs.bs - countOff - (fs.csum ? 8 : 0)) / 8);
}

interface DxFound { hash: number; version: number; path: DxLevel[]; leaf: number }

function dxPath(fs: Ext2Fs, ip: Inode, nameHash: (version: number) => number): Promise<DxFound | null> {
  return fs.run(dxPathW(fs, ip, nameHash));
}

/**
 * Walks the index from the root to the leaf for `hash`. Returns the path (per level: entries and chosen index)
 * or null when the index cannot be used (unknown hash, e.g. siphash) and the caller should scan.
 */
function* dxPathW(fs: Ext2Fs, ip: Inode, nameHash: (version: number) => number): Walk<DxFound | null> {
  const first = yield* dirBlockW(fs, ip, 0);
  if (!first) throw corrupt(fs, `directory inode ${ip.ino}: htree root block missing`);
  const root = first.bp.data.slice();
  fs.bio.brelse(first.bp);
  const what = `directory inode ${ip.ino}: htree`;
  const dv = new DataView(root.buffer);
  const info = DX_ROOT_INFO.decode(dv);
  const maxLevels = fs.has('incompat', INCOMPAT.LARGEDIR) ? 3 : 2;
  if (info.infoLength !== 8 || info.indirectLevels >= maxLevels) throw corrupt(fs, `${what}: bad root (info length ${info.infoLength}, levels ${info.indirectLevels})`);
  const version = dxVersion(fs, info.hashVersion);
  const hash = nameHash(version);
  if (hash < 0) return null;
  const path: DxLevel[] = [];
  let d = root;
  let countOff = 0x20;
  let lblk = 0;
  const nblocks = dirBlocks(fs, ip);
  for (let level = 0; ; level++) {
    const ddv = new DataView(d.buffer, d.byteOffset, d.length);
    const cl = DX_COUNTLIMIT.decode(ddv, countOff);
    const limit = dxLimit(fs, countOff);
    if (cl.limit !== limit || cl.count < 1 || cl.count > cl.limit) throw corrupt(fs, `${what}: node count ${cl.count}/limit ${cl.limit} (expected limit ${limit})`);
    verifyDx(fs, ip, d, countOff, cl.limit, cl.count, what);
    // Direct reads at the declared offsets: this runs for every lookup in an indexed directory.
    const entries: { hash: number; block: number }[] = new Array(cl.count);
    const hOff = DX_ENTRY.f.hash.off, bOff = DX_ENTRY.f.block.off;
    for (let i = 0; i < cl.count; i++) {
      const p = countOff + i * 8;
      const block = ddv.getUint32(p + bOff, true);
      entries[i] = { hash: i === 0 ? 0 : ddv.getUint32(p + hOff, true), block };
      if (block >= nblocks) throw corrupt(fs, `${what}: index names block ${block} past the directory end`);
    }
    let lo = 1, hi = entries.length - 1, at = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid]!.hash <= hash) { at = mid; lo = mid + 1; } else hi = mid - 1;
    }
    path.push({ lblk, data: d, countOff, count: cl.count, limit: cl.limit, at, entries });
    const child = entries[at]!.block;
    if (level === info.indirectLevels) return { hash, version, path, leaf: child };
    const nb = yield* dirBlockW(fs, ip, child);
    if (!nb) throw corrupt(fs, `${what}: index block ${child} missing`);
    d = nb.bp.data.slice();
    fs.bio.brelse(nb.bp);
    const fake = new DataView(d.buffer);
    if (fake.getUint32(0, true) !== 0 || recLenFromDisk(fake.getUint16(4, true), fs.bs) !== fs.bs) throw corrupt(fs, `${what}: index block ${child} has no empty header entry`);
    countOff = 8;
    lblk = child;
  }
}

function hasIndex(fs: Ext2Fs, ip: Inode): boolean {
  return (ip.flags & IFLAG.INDEX) !== 0 && !(ip.flags & IFLAG.INLINE_DATA) && dirBlocks(fs, ip) > 1;
}

// ---------------------------------------------------------------- lookup

export interface Found {
  lblk: number;
  /** Offset of the entry; -1 for the inline parent slot. */
  off: number;
  inode: number;
  type: number;
}

function* scanBlockW(fs: Ext2Fs, ip: Inode, lblk: number, name: Uint8Array): Walk<Found | null> {
  const b = yield* dirBlockW(fs, ip, lblk);
  if (!b) return null;
  try {
    const d = b.bp.data;
    verifyLeaf(fs, ip, d, lblk);
    // The hot path of lookup: the same checks as parseEntries, without building the entry list.
    const end = leafEnd(fs, d, ip, lblk);
    const dv = new DataView(d.buffer, d.byteOffset, d.length);
    for (let off = 0; off < end;) {
      if (off + 8 > end) throw corrupt(fs, `directory inode ${ip.ino} block ${lblk}: entry header at ${off} runs past the block`);
      const inode = dv.getUint32(off, true);
      const recLen = recLenFromDisk(dv.getUint16(off + 4, true), fs.bs);
      const nameLen = d[off + 6]!;
      if (recLen < 8 || recLen % 4 || off + recLen > end || (inode && 8 + nameLen > recLen)) {
        throw corrupt(fs, `directory inode ${ip.ino} block ${lblk}: bad entry at offset ${off} (rec_len ${recLen}, name_len ${nameLen})`);
      }
      if (inode && nameLen === name.length && nameEq(d, off, name)) {
        if (inode > fs.sb.inodesCount) throw corrupt(fs, `directory inode ${ip.ino} block ${lblk}: entry at offset ${off} names inode ${inode} out of range`);
        return { lblk, off, inode, type: fs.filetype ? d[off + 7]! & 7 : 0 };
      }
      off += recLen;
    }
    return null;
  } finally {
    fs.bio.brelse(b.bp);
  }
}

export function findEntry(fs: Ext2Fs, ip: Inode, nameStr: string): Promise<Found | null> {
  return fs.run(findEntryW(fs, ip, nameStr));
}

/** findEntry() when every block it needs is in the buffer cache; undefined otherwise. */
export function findEntryNow(fs: Ext2Fs, ip: Inode, nameStr: string): Found | null | undefined {
  return fs.runNow(findEntryW(fs, ip, nameStr));
}

function* findEntryW(fs: Ext2Fs, ip: Inode, nameStr: string): Walk<Found | null> {
  const name = enc.encode(nameStr);
  if (ip.flags & IFLAG.INLINE_DATA) {
    const { data, entries, parent } = inlineEntries(fs, ip);
    if (nameStr === '..') return { lblk: 0, off: -1, inode: parent, type: 2 };
    for (const e of entries) if (e.inode && e.nameLen === name.length && nameEq(data, e.off, name)) return { lblk: 0, off: e.off, inode: e.inode, type: e.type };
    return null;
  }
  if (hasIndex(fs, ip) && nameStr !== '..') {
    const r = yield* dxPathW(fs, ip, (v) => dirhash(name, v, fs.hashSeed));
    if (r) {
      const found = yield* scanBlockW(fs, ip, r.leaf, name);
      if (found) return found;
      // Hash collisions continue in the next leaf, marked by the low bit of its starting hash.
      const last = r.path[r.path.length - 1]!;
      let at = last.at + 1;
      while (at < last.entries.length && (last.entries[at]!.hash & ~1) >>> 0 === r.hash) {
        const f = yield* scanBlockW(fs, ip, last.entries[at]!.block, name);
        if (f) return f;
        at++;
      }
      if (at < last.entries.length || r.path.length === 1) return null;
      // The collision chain may go on in the next index node: rare; a scan settles it.
    }
  }
  const n = dirBlocks(fs, ip);
  for (let lblk = 0; lblk < n; lblk++) {
    lblk = yield* skipHolesW(fs, ip, lblk, n);
    if (lblk >= n) break;
    const f = yield* scanBlockW(fs, ip, lblk, name);
    if (f) return f;
  }
  return null;
}

/**
 * The first mapped block at or after `lblk` (or `n`): a hostile directory may claim a huge size over a few
 * blocks, so holes are passed a whole mapped run at a time, never block by block.
 */
function* skipHolesW(fs: Ext2Fs, ip: Inode, lblk: number, n: number): Walk<number> {
  if (ip.flags & IFLAG.INLINE_DATA) return lblk;
  while (lblk < n) {
    const m = yield* fs.mapW(ip, lblk, n - lblk);
    if (m.pblk !== 0 && !m.uninit) return lblk;
    lblk += Math.max(1, m.len);
  }
  return n;
}

// ---------------------------------------------------------------- readdir

export interface ReadEntry { name: string; inode: number; type: number; next: number; }

/** Entries from `cookie` (a byte position; for inline directories 0 '.', 1 '..', then offsets from 4). */
export async function readEntries(fs: Ext2Fs, ip: Inode, cookie: number, max: number): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  if (ip.flags & IFLAG.INLINE_DATA) {
    const { data, entries, parent } = inlineEntries(fs, ip);
    if (cookie === 0) out.push({ name: '.', inode: ip.ino, type: 2, next: 1 });
    if (cookie <= 1) out.push({ name: '..', inode: parent, type: 2, next: 4 });
    for (const e of entries) {
      if (e.off < cookie || !e.inode) continue;
      out.push({ name: dec.decode(data.subarray(e.off + 8, e.off + 8 + e.nameLen)), inode: e.inode, type: e.type, next: e.off + e.recLen });
    }
    return out;
  }
  const bs = fs.bs;
  const n = dirBlocks(fs, ip);
  for (let lblk = Math.floor(cookie / bs); lblk < n && out.length < max; lblk++) {
    lblk = await fs.run(skipHolesW(fs, ip, lblk, n));
    if (lblk >= n) break;
    const b = await dirBlock(fs, ip, lblk);
    if (!b) continue;
    try {
      const d = b.bp.data;
      verifyLeaf(fs, ip, d, lblk);
      for (const e of parseEntries(fs, d, 0, leafEnd(fs, d, ip, lblk), `directory inode ${ip.ino} block ${lblk}`)) {
        const pos = lblk * bs + e.off;
        if (pos < cookie || !e.inode) continue;
        out.push({ name: dec.decode(d.subarray(e.off + 8, e.off + 8 + e.nameLen)), inode: e.inode, type: e.type, next: pos + e.recLen });
      }
    } finally {
      fs.bio.brelse(b.bp);
    }
  }
  return out;
}

// ---------------------------------------------------------------- modification

async function appendDirBlock(fs: Ext2Fs, ip: Inode): Promise<{ lblk: number; data: Uint8Array }> {
  const lblk = dirBlocks(fs, ip);
  const data = new Uint8Array(fs.bs);
  const end = fs.csum ? fs.bs - 12 : fs.bs;
  const dv = new DataView(data.buffer);
  dv.setUint32(0, 0, true);
  dv.setUint16(4, recLenToDisk(end, fs.bs), true);
  if (fs.csum) writeTail(fs, data);
  setLeafCsum(fs, ip, data);
  await writeFile(fs, ip, data, lblk * fs.bs);
  return { lblk, data };
}

function putEntry(fs: Ext2Fs, d: Uint8Array, off: number, recLen: number, ino: number, name: Uint8Array, ft: number): void {
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  DIRENT.encode({ inode: ino, recLen: recLenToDisk(recLen, fs.bs), nameLen: name.length, fileType: fs.filetype ? ft : 0 }, dv, off);
  d.set(name, off + 8);
}

/** Tries to place an entry in buffer [start, end); returns whether it fit. */
function insertInto(fs: Ext2Fs, d: Uint8Array, start: number, end: number, name: Uint8Array, ino: number, ft: number, what: string): boolean {
  const need = entryLen(name.length);
  // parseEntries' checks over every entry of the range, without building the list (this runs for every entry
  // added); the first place with room is remembered and used once the whole range has passed.
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  let at = -1, atLen = 0, split = 0;
  for (let off = start; off < end;) {
    if (off + 8 > end) throw corrupt(fs, `${what}: entry header at ${off} runs past the block`);
    const inode = dv.getUint32(off, true);
    const recLen = recLenFromDisk(dv.getUint16(off + 4, true), fs.bs);
    const nameLen = d[off + 6]!;
    if (recLen < 8 || recLen % 4 || off + recLen > end || (inode && 8 + nameLen > recLen)) {
      throw corrupt(fs, `${what}: bad entry at offset ${off} (rec_len ${recLen}, name_len ${nameLen})`);
    }
    if (inode > fs.sb.inodesCount) throw corrupt(fs, `${what}: entry at offset ${off} names inode ${inode} out of range`);
    if (at < 0) {
      const used = entryLen(nameLen);
      if (!inode && recLen >= need) {
        at = off;
        atLen = recLen;
        split = 0;
      } else if (inode && recLen - used >= need) {
        at = off;
        atLen = recLen;
        split = used;
      }
    }
    off += recLen;
  }
  if (at < 0) return false;
  if (split) {
    dv.setUint16(at + 4, recLenToDisk(split, fs.bs), true);
    putEntry(fs, d, at + split, atLen - split, ino, name, ft);
  } else putEntry(fs, d, at, atLen, ino, name, ft);
  return true;
}

async function tryBlock(fs: Ext2Fs, ip: Inode, lblk: number, name: Uint8Array, ino: number, ft: number): Promise<boolean> {
  const b = await dirBlock(fs, ip, lblk);
  if (!b) return false;
  const d = b.bp.data;
  try {
    verifyLeaf(fs, ip, d, lblk);
  } catch (e) {
    fs.bio.brelse(b.bp);
    throw e;
  }
  const ok = insertInto(fs, d, 0, leafEnd(fs, d, ip, lblk), name, ino, ft, `directory inode ${ip.ino} block ${lblk}`);
  if (ok) {
    deferLeafCsum(fs, ip, b.bp);
    fs.bio.bdwrite(b.bp);
  } else fs.bio.brelse(b.bp);
  return ok;
}

/**
 * Splits a full htree leaf (ext4's do_split): its entries sorted by hash, the upper half moved to a new
 * block appended to the directory, and an index entry for it added to the parent node. Returns false
 * when the parent node is full (the caller then drops the index).
 */
async function splitLeaf(fs: Ext2Fs, ip: Inode, r: DxFound, name: Uint8Array, ino: number, ft: number): Promise<boolean> {
  const node = r.path[r.path.length - 1]!;
  if (node.count >= node.limit) return false;
  const b = await dirBlock(fs, ip, r.leaf);
  if (!b) return false;
  const d = b.bp.data.slice();
  fs.bio.brelse(b.bp);
  const live = parseEntries(fs, d, 0, leafEnd(fs, d), `directory inode ${ip.ino} block ${r.leaf}`)
    .filter((e) => e.inode)
    .map((e) => {
      const nm = d.slice(e.off + 8, e.off + 8 + e.nameLen);
      return { nm, inode: e.inode, type: e.type, hash: dirhash(nm, r.version, fs.hashSeed) };
    })
    .sort((a, b) => a.hash - b.hash);
  if (live.length < 2) return false;
  const mid = live.length >> 1;
  const splitHash = (live[mid]!.hash + (live[mid]!.hash === live[mid - 1]!.hash ? 1 : 0)) >>> 0;
  const end = fs.csum ? fs.bs - 12 : fs.bs;
  const fill = (list: typeof live): Uint8Array => {
    const out = new Uint8Array(fs.bs);
    let off = 0;
    list.forEach((e, i) => {
      const len = i === list.length - 1 ? end - off : entryLen(e.nm.length);
      putEntry(fs, out, off, len, e.inode, e.nm, e.type);
      off += len;
    });
    if (!list.length) new DataView(out.buffer).setUint16(4, recLenToDisk(end, fs.bs), true);
    if (fs.csum) writeTail(fs, out);
    setLeafCsum(fs, ip, out);
    return out;
  };
  const { lblk: newLblk } = await appendDirBlock(fs, ip);
  const lo = fill(live.slice(0, mid));
  const hi = fill(live.slice(mid));
  for (const [lb, data] of [[r.leaf, lo], [newLblk, hi]] as const) {
    const w = (await dirBlock(fs, ip, lb))!;
    w.bp.data.set(data);
    fs.bio.bdwrite(w.bp);
  }
  // Insert {splitHash, newLblk} after the entry that led here.
  const nd = (await dirBlock(fs, ip, node.lblk))!;
  const data = nd.bp.data;
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  const at = node.countOff + (node.at + 1) * 8;
  data.copyWithin(at + 8, at, node.countOff + node.count * 8);
  DX_ENTRY.encode({ hash: splitHash, block: newLblk }, dv, at);
  dv.setUint16(node.countOff + 2, node.count + 1, true);
  if (fs.csum) {
    const tail = node.countOff + node.limit * 8;
    dv.setUint32(tail, 0, true);
    dv.setUint32(tail + 4, dxChecksum(ip, data, node.countOff, node.limit, node.count + 1), true);
  }
  fs.bio.bdwrite(nd.bp);
  const target = r.hash >= splitHash ? newLblk : r.leaf;
  return tryBlock(fs, ip, target, name, ino, ft);
}

/** Drops the htree index: the root and index blocks become ordinary (empty) leaf blocks. */
async function dropIndex(fs: Ext2Fs, ip: Inode): Promise<void> {
  const n = dirBlocks(fs, ip);
  for (let lblk = 0; lblk < n; lblk++) {
    const b = await dirBlock(fs, ip, lblk);
    if (!b) continue;
    const d = b.bp.data;
    const dv = new DataView(d.buffer, d.byteOffset, d.length);
    const end = fs.csum ? fs.bs - 12 : fs.bs;
    if (lblk === 0) {
      // keep '.' (12 bytes) and '..'; '..' spans the rest
      dv.setUint16(12 + 4, recLenToDisk(end - 12, fs.bs), true);
      d.fill(0, 24, end);
    } else if (dv.getUint32(0, true) === 0 && recLenFromDisk(dv.getUint16(4, true), fs.bs) === fs.bs) {
      dv.setUint16(4, recLenToDisk(end, fs.bs), true);
      d.fill(0, 8, end);
    } else {
      fs.bio.brelse(b.bp);
      continue;
    }
    if (fs.csum) {
      writeTail(fs, d);
      setLeafCsum(fs, ip, d);
    }
    fs.bio.bdwrite(b.bp);
  }
  ip.flags &= ~IFLAG.INDEX;
  fs.markDirty(ip);
}

/** Moves an inline directory into a block of its own. */
async function uninlineDir(fs: Ext2Fs, ip: Inode): Promise<void> {
  const { data, entries, parent } = inlineEntries(fs, ip);
  const rest = (await readXattrs(fs, ip)).filter((x) => !(x.index === 7 && x.name === 'data'));
  ip.flags &= ~IFLAG.INLINE_DATA;
  ip.iblock.fill(0);
  if (fs.extents) initExtentRoot(ip);
  await writeXattrs(fs, ip, rest);
  ip.size = 0;
  const blk = newDirBlock(fs, ip, ip.ino, parent);
  for (const e of entries) {
    if (!e.inode) continue;
    const nm = data.slice(e.off + 8, e.off + 8 + e.nameLen);
    if (!insertInto(fs, blk, 0, fs.csum ? fs.bs - 12 : fs.bs, nm, e.inode, e.type, `directory inode ${ip.ino}`)) {
      throw corrupt(fs, `inline directory ${ip.ino}: entries do not fit one block`);
    }
  }
  setLeafCsum(fs, ip, blk);
  await writeFile(fs, ip, blk, 0);
}

/** The first block of a new directory: '.', '..' and the checksum tail. */
export function newDirBlock(fs: Ext2Fs, ip: Inode, self: number, parent: number): Uint8Array {
  const d = new Uint8Array(fs.bs);
  const end = fs.csum ? fs.bs - 12 : fs.bs;
  putEntry(fs, d, 0, 12, self, enc.encode('.'), 2);
  putEntry(fs, d, 12, end - 12, parent, enc.encode('..'), 2);
  if (fs.csum) writeTail(fs, d);
  setLeafCsum(fs, ip, d);
  return d;
}

export async function addEntry(fs: Ext2Fs, ip: Inode, nameStr: string, ino: number, type: VType): Promise<void> {
  const name = enc.encode(nameStr);
  if (name.length === 0 || name.length > 255) throw kerr('ENAMETOOLONG', `ext2fs: name of ${name.length} bytes`);
  const ft = vtypeToFt(type);
  if (ip.flags & IFLAG.INLINE_DATA) {
    const { data } = inlineEntries(fs, ip);
    if (insertInto(fs, data, 4, 60, name, ino, ft, `inline directory ${ip.ino}`) ||
        (data.length > 60 && insertInto(fs, data, 60, data.length, name, ino, ft, `inline directory ${ip.ino}`))) {
      await writeInline(fs, ip, data);
      return;
    }
    await uninlineDir(fs, ip);
  }
  if (hasIndex(fs, ip)) {
    const r = await dxPath(fs, ip, (v) => dirhash(name, v, fs.hashSeed));
    if (r && (await tryBlock(fs, ip, r.leaf, name, ino, ft))) return;
    if (r && (await splitLeaf(fs, ip, r, name, ino, ft))) return;
    await dropIndex(fs, ip);
  }
  const n = dirBlocks(fs, ip);
  for (let lblk = n - 1; lblk >= 0; lblk--) if (await tryBlock(fs, ip, lblk, name, ino, ft)) return;
  const { lblk } = await appendDirBlock(fs, ip);
  if (!(await tryBlock(fs, ip, lblk, name, ino, ft))) throw kerr('EIO', `ext2fs: directory inode ${ip.ino}: new block has no room`);
}

export async function removeEntry(fs: Ext2Fs, ip: Inode, nameStr: string): Promise<number> {
  const f = await findEntry(fs, ip, nameStr);
  if (!f || f.off < 0) throw kerr('ENOENT', `ext2fs: '${nameStr}' not in directory ${ip.ino}`);
  if (ip.flags & IFLAG.INLINE_DATA) {
    const { data } = inlineEntries(fs, ip);
    removeAt(fs, data, f.off < 60 ? 4 : 60, f.off);
    await writeInline(fs, ip, data);
    return f.inode;
  }
  const b = (await dirBlock(fs, ip, f.lblk))!;
  removeAt(fs, b.bp.data, 0, f.off);
  setLeafCsum(fs, ip, b.bp.data);
  fs.bio.bdwrite(b.bp);
  return f.inode;
}

function removeAt(fs: Ext2Fs, d: Uint8Array, start: number, off: number): void {
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  let prev = -1;
  let p = start;
  while (p < off) {
    prev = p;
    p += recLenFromDisk(dv.getUint16(p + 4, true), fs.bs);
  }
  if (prev >= 0) {
    const merged = recLenFromDisk(dv.getUint16(prev + 4, true), fs.bs) + recLenFromDisk(dv.getUint16(off + 4, true), fs.bs);
    dv.setUint16(prev + 4, recLenToDisk(merged, fs.bs), true);
  } else dv.setUint32(off, 0, true);
}

/** Points an existing entry at another inode (rename over a target). */
export async function retarget(fs: Ext2Fs, ip: Inode, nameStr: string, ino: number, type: VType): Promise<void> {
  const f = await findEntry(fs, ip, nameStr);
  if (!f) throw kerr('ENOENT', `ext2fs: '${nameStr}' not in directory ${ip.ino}`);
  const ft = fs.filetype ? vtypeToFt(type) : 0;
  if (ip.flags & IFLAG.INLINE_DATA) {
    const { data } = inlineEntries(fs, ip);
    const dv = new DataView(data.buffer);
    if (f.off < 0) dv.setUint32(0, ino, true);
    else {
      dv.setUint32(f.off, ino, true);
      data[f.off + 7] = ft;
    }
    await writeInline(fs, ip, data);
    return;
  }
  const b = (await dirBlock(fs, ip, f.lblk))!;
  new DataView(b.bp.data.buffer, b.bp.data.byteOffset).setUint32(f.off, ino, true);
  b.bp.data[f.off + 7] = ft;
  setLeafCsum(fs, ip, b.bp.data);
  fs.bio.bdwrite(b.bp);
}

export async function isEmptyDir(fs: Ext2Fs, ip: Inode): Promise<boolean> {
  for (let cookie = 0; ;) {
    const batch = await readEntries(fs, ip, cookie, 256);
    if (!batch.length) return true;
    for (const e of batch) if (e.name !== '.' && e.name !== '..') return false;
    const next = batch[batch.length - 1]!.next;
    if (next <= cookie) return true;
    cookie = next;
  }
}
