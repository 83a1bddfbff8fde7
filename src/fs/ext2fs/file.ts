/**
 * File contents: reading, writing (allocating blocks for holes, converting
 * unwritten extents, zero-filling partial blocks), truncation, inline data,
 * and releasing everything a deleted inode owned. Built on Ext2Fs's mapping
 * and allocation; data moves in whole runs straight between the caller's
 * buffer and the device.
 */

import { kerr } from '../../kern/error.js';
import type { Ext2Fs, Walk } from './fs.js';
import type { Inode } from './inode.js';
import { EXT_HDR, EXT_MAGIC, IFLAG, INCOMPAT } from './layout.js';
import { readInodeXattrs, readXattrs, writeXattrs } from './xattr.js';

/** Inline data: the 60 bytes of i_block followed by the `system.data` attribute. */
export function inlineBytes(fs: Ext2Fs, ip: Inode): Uint8Array {
  const extra = readInodeXattrs(fs, ip).find((x) => x.index === 7 && x.name === 'data');
  const out = new Uint8Array(60 + (extra?.value.length ?? 0));
  out.set(ip.iblock);
  if (extra) out.set(extra.value, 60);
  return out;
}

export function isFastSymlink(fs: Ext2Fs, ip: Inode): boolean {
  if (!ip.isLnk || ip.flags & IFLAG.INLINE_DATA) return false;
  const aclBlocks = ip.fileAcl ? fs.bs / 512 : 0;
  return ip.size < 60 && ip.blocks512 - aclBlocks === 0;
}

/** Whether i_block holds block pointers or an extent root (not a fast symlink, device number or inline data). */
export function hasBlocks(fs: Ext2Fs, ip: Inode): boolean {
  if (ip.flags & IFLAG.INLINE_DATA) return false;
  if (ip.isReg || ip.isDir) return true;
  return ip.isLnk && !isFastSymlink(fs, ip);
}

export function readFile(fs: Ext2Fs, ip: Inode, buf: Uint8Array, offset: number): Promise<number> {
  return fs.run(readFileW(fs, ip, buf, offset));
}

/** readFile() without waiting (Ext2Fs.runNow): inline data, holes, and blocks the device reads at once; undefined otherwise. */
export function readFileNow(fs: Ext2Fs, ip: Inode, buf: Uint8Array, offset: number): number | undefined {
  return fs.runNow(readFileW(fs, ip, buf, offset));
}

function* readFileW(fs: Ext2Fs, ip: Inode, buf: Uint8Array, offset: number): Walk<number> {
  if (offset >= ip.size) return 0;
  const n = Math.min(buf.length, ip.size - offset);
  const dst = buf.subarray(0, n);
  if (ip.flags & IFLAG.INLINE_DATA) {
    const data = inlineBytes(fs, ip);
    dst.fill(0);
    if (offset < data.length) dst.set(data.subarray(offset, Math.min(data.length, offset + n)));
    return n;
  }
  yield* fs.readDataW(ip, dst, offset);
  return n;
}

/** Sets the extent root of an empty extent-mapped inode. */
export function initExtentRoot(ip: Inode): void {
  const ib = ip.iblock;
  ib.fill(0);
  EXT_HDR.encode({ magic: EXT_MAGIC, entries: 0, max: 4, depth: 0, generation: 0 }, new DataView(ib.buffer, ib.byteOffset, 60));
  ip.flags |= IFLAG.EXTENTS;
  ip.extents = [];
  ip.treeBlocks = [];
}

/** Moves inline file data out into blocks (before a write that may not fit). */
async function uninline(fs: Ext2Fs, ip: Inode): Promise<void> {
  const data = inlineBytes(fs, ip).slice(0, ip.size);
  const size = ip.size;
  const rest = (await readXattrs(fs, ip)).filter((x) => !(x.index === 7 && x.name === 'data'));
  ip.flags &= ~IFLAG.INLINE_DATA;
  ip.iblock.fill(0);
  if (fs.extents) initExtentRoot(ip);
  await writeXattrs(fs, ip, rest);
  ip.size = 0;
  if (data.length) await writeFile(fs, ip, data, 0);
  ip.size = size;
  fs.markDirty(ip);
}

function goalFor(fs: Ext2Fs, ip: Inode, lblk: number): number {
  const list = ip.extents;
  if (list && list.length) {
    let best = list[0]!;
    for (const e of list) if (e.lblk <= lblk) best = e;
    return best.pblk + Math.max(0, lblk - best.lblk);
  }
  return fs.groupFirstBlock(Math.floor((ip.ino - 1) / fs.ipg));
}

export async function writeFile(fs: Ext2Fs, ip: Inode, buf: Uint8Array, offset: number): Promise<number> {
  const end = offset + buf.length;
  if (end > fs.maxFileSize) throw kerr('EFBIG', `ext2fs: write past ${fs.maxFileSize}`);
  if (buf.length === 0) return 0;
  if (ip.flags & IFLAG.INLINE_DATA) await uninline(fs, ip);
  const bs = fs.bs;
  const ext = (ip.flags & IFLAG.EXTENTS) !== 0;
  if (ext) await fs.loadExtents(ip);
  let pos = offset;
  let lastPblk = 0;
  try {
    await writeLoop();
  } finally {
    // What was written stays written (and counted in the size), also when allocation ran out midway.
    if (pos > ip.size) ip.size = pos;
    fs.markDirty(ip);
  }
  return buf.length;

  async function writeLoop(): Promise<void> {
  while (pos < end) {
    const lblk = Math.floor(pos / bs);
    const inblk = pos % bs;
    const nb = Math.ceil((inblk + end - pos) / bs);
    const m = await fs.map(ip, lblk, nb);
    const runBlocks = Math.min(m.len, nb);
    if (m.pblk !== 0 && !m.uninit) {
      await writeRun(fs, m.pblk, runBlocks, buf, pos - offset, inblk, Math.min(runBlocks * bs - inblk, end - pos), false);
      pos += Math.min(runBlocks * bs - inblk, end - pos);
      lastPblk = m.pblk + runBlocks;
      continue;
    }
    let pblk: number;
    let len: number;
    if (m.uninit) {
      pblk = m.pblk;
      len = runBlocks;
    } else {
      const goal = lastPblk || (ext ? goalFor(fs, ip, lblk) : lblk > 0 ? (await fs.map(ip, lblk - 1, 1)).pblk + 1 : goalFor(fs, ip, lblk));
      const r = await fs.allocBlocks(goal, runBlocks);
      pblk = r.start;
      len = r.len;
    }
    const bytes = Math.min(len * bs - inblk, end - pos);
    await writeRun(fs, pblk, len, buf, pos - offset, inblk, bytes, true);
    if (ext) fs.setExtent(ip, { lblk, pblk, len, uninit: false });
    else {
      for (let i = 0; i < len; i++) await fs.bmapSet(ip, lblk + i, pblk + i);
    }
    if (!m.uninit) ip.blocks512 += len * (bs / 512);
    pos += bytes;
    lastPblk = pblk + len;
    fs.markDirty(ip);
  }
  }
}

/**
 * Writes `bytes` bytes of `src` from `srcOff` into the run of `len` device blocks at `pblk`, starting `inblk`
 * bytes into the first block. Partial blocks are merged with what is there, or with zeros for `fresh` blocks.
 */
async function writeRun(fs: Ext2Fs, pblk: number, len: number, src: Uint8Array, srcOff: number, inblk: number, bytes: number, fresh: boolean): Promise<void> {
  const bs = fs.bs;
  const total = Math.ceil((inblk + bytes) / bs);
  let b = 0; // block index within the run
  let s = srcOff;
  let left = bytes;
  let at = inblk;
  while (b < total) {
    if (at === 0 && left >= bs) {
      const whole = Math.floor(left / bs);
      await fs.dev.write(src.subarray(s, s + whole * bs), (pblk + b) * bs);
      b += whole;
      s += whole * bs;
      left -= whole * bs;
      continue;
    }
    const tmp = fs.scratchBlock();
    if (!fresh) await fs.dev.read(tmp, (pblk + b) * bs);
    else tmp.fill(0);
    const n = Math.min(bs - at, left);
    tmp.set(src.subarray(s, s + n), at);
    await fs.dev.write(tmp, (pblk + b) * bs);
    b++;
    s += n;
    left -= n;
    at = 0;
  }
  // Fresh blocks of the run past the data (allocated but not covered) are zeroed.
  if (fresh && total < len) await fs.dev.write(new Uint8Array((len - total) * bs), (pblk + total) * bs);
}

/** Changes the size: frees blocks past a smaller size (zeroing the tail of the last block), or leaves a hole. */
export async function truncateFile(fs: Ext2Fs, ip: Inode, size: number): Promise<void> {
  if (size > fs.maxFileSize) throw kerr('EFBIG', `ext2fs: size ${size} beyond ${fs.maxFileSize}`);
  const bs = fs.bs;
  if (ip.flags & IFLAG.INLINE_DATA) {
    if (size > 60) await uninline(fs, ip);
    else {
      if (size < ip.size) ip.iblock.fill(0, size);
      const rest = (await readXattrs(fs, ip)).filter((x) => !(x.index === 7 && x.name === 'data'));
      if (size <= 60) await writeXattrs(fs, ip, [{ index: 7, name: 'data', value: new Uint8Array(0) }, ...rest]);
      ip.size = size;
      fs.markDirty(ip);
      return;
    }
  }
  if (!hasBlocks(fs, ip)) {
    ip.size = size;
    fs.markDirty(ip);
    return;
  }
  if (size < ip.size) {
    if (size % bs) {
      const m = await fs.map(ip, Math.floor(size / bs), 1);
      if (m.pblk && !m.uninit) {
        const tmp = new Uint8Array(bs);
        await fs.dev.read(tmp, m.pblk * bs);
        tmp.fill(0, size % bs);
        await fs.dev.write(tmp, m.pblk * bs);
      }
    }
    await freeFrom(fs, ip, Math.ceil(size / bs));
  }
  ip.size = size;
  fs.markDirty(ip);
}

/** Frees every data block from logical block `from` on. */
async function freeFrom(fs: Ext2Fs, ip: Inode, from: number): Promise<void> {
  const per = fs.bs / 512;
  if (ip.flags & IFLAG.EXTENTS) {
    const list = await fs.loadExtents(ip);
    const keep = [];
    for (const e of list) {
      if (e.lblk + e.len <= from) { keep.push(e); continue; }
      const cut = Math.max(0, from - e.lblk);
      await fs.freeBlockRun(e.pblk + cut, e.len - cut);
      ip.blocks512 -= (e.len - cut) * per;
      if (cut > 0) keep.push({ ...e, len: cut });
    }
    if (keep.length !== list.length || keep.some((e, i) => e.len !== list[i]!.len)) {
      ip.extents = keep;
      ip.extentsDirty = true;
    }
  } else {
    await fs.bmapTruncate(ip, from);
  }
  fs.markDirty(ip);
}

/** Releases everything a deleted inode (link count 0, no references) owns and frees the inode. */
export async function releaseInode(fs: Ext2Fs, ip: Inode): Promise<void> {
  if (hasBlocks(fs, ip)) {
    await freeFrom(fs, ip, 0);
    if (ip.flags & IFLAG.EXTENTS) await fs.writeExtentTree(ip);
  }
  if (ip.fileAcl) {
    await writeXattrs(fs, ip, []);
  }
  ip.size = 0;
  ip.links = 0;
  ip.dtime = fs.k.now().sec >>> 0;
  await fs.writeInode(ip);
  fs.dirtyInodes.delete(ip);
  await fs.freeInode(ip.ino, ip.isDir);
}

export function wantsInlineDirs(fs: Ext2Fs): boolean {
  return fs.has('incompat', INCOMPAT.INLINE_DATA);
}
