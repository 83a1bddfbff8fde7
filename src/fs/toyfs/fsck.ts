/**
 * The toyfs consistency checker: walks the tree from the root (bounded,
 * loop-checked) and compares what it finds with the bitmaps, the free counts
 * and the link counts. Returns the problems found; an empty list means clean.
 */

import { MemoryDevice } from '../../dev/blockdev.js';
import {
  BLOCK, DIRECT_OFFSET, DIRENT_NAME_OFFSET, DIRENT_SIZE, INODE_SIZE, NDIRECT, PTRS_PER_BLOCK, ROOT_INO, dirent, inode, superblock,
} from './layout.js';
import { checkSuperblock } from './index.js';

export function fsckToyfs(img: Uint8Array): string[] {
  const problems: string[] = [];
  const dev = new MemoryDevice(img);
  const sb = superblock.decode(img);
  const bad = checkSuperblock(sb, dev.size);
  if (bad) return [`superblock: ${bad}`];
  const bit = (which: 1 | 2, i: number) => (img[which * BLOCK + (i >> 3)]! & (1 << (i & 7))) !== 0;
  const dv = new DataView(img.buffer, img.byteOffset, img.length);

  const usedBlocks = new Map<number, number>(); // block -> inode
  const links = new Map<number, number>(); // inode -> names found
  const parentOf = new Map<number, number>();
  const claim = (b: number, ino: number, what: string): boolean => {
    if (b < sb.data || b >= sb.blocks) {
      problems.push(`inode ${ino}: ${what} block ${b} out of range`);
      return false;
    }
    const other = usedBlocks.get(b);
    if (other !== undefined) problems.push(`block ${b} claimed by inodes ${other} and ${ino}`);
    usedBlocks.set(b, ino);
    return true;
  };
  const blocksOf = (ino: number, i: ReturnType<typeof inode.decode>, off: number): number[] => {
    const out: number[] = [];
    const nblocks = Math.ceil(i.size / BLOCK);
    for (let d = 0; d < NDIRECT; d++) {
      const b = dv.getUint32(off + DIRECT_OFFSET + 4 * d, true);
      if (b !== 0 && claim(b, ino, 'direct')) out.push(b);
      else out.push(0);
      if (b !== 0 && d >= nblocks) problems.push(`inode ${ino}: block past its size`);
    }
    if (i.indirect !== 0 && claim(i.indirect, ino, 'indirect')) {
      for (let x = 0; x < PTRS_PER_BLOCK; x++) {
        const b = dv.getUint32(i.indirect * BLOCK + 4 * x, true);
        if (b !== 0 && claim(b, ino, 'indirect entry')) out.push(b);
        else out.push(0);
      }
    }
    return out;
  };

  const seen = new Set<number>();
  const queue = [ROOT_INO];
  links.set(ROOT_INO, 1); // the root's own '..'
  parentOf.set(ROOT_INO, ROOT_INO);
  while (queue.length > 0) {
    const ino = queue.shift()!;
    if (seen.has(ino)) continue;
    seen.add(ino);
    const off = sb.itable * BLOCK + ino * INODE_SIZE;
    const i = inode.decode(img, off);
    if (!bit(2, ino)) problems.push(`inode ${ino}: in use but free in the bitmap`);
    const type = i.mode & 0o170000;
    const blocks = blocksOf(ino, i, off);
    if (type !== 0o040000) continue;
    if (i.size % DIRENT_SIZE !== 0) {
      problems.push(`directory ${ino}: size ${i.size} not a multiple of ${DIRENT_SIZE}`);
      continue;
    }
    let subdirs = 0;
    const names = new Set<string>();
    for (let s = 0; s < i.size / DIRENT_SIZE; s++) {
      const b = blocks[Math.floor(s / (BLOCK / DIRENT_SIZE))];
      if (!b) {
        problems.push(`directory ${ino}: hole`);
        break;
      }
      const at = b * BLOCK + (s % (BLOCK / DIRENT_SIZE)) * DIRENT_SIZE;
      const e = dirent.decode(img, at);
      if (e.ino === 0) continue;
      const name = new TextDecoder().decode(img.subarray(at + DIRENT_NAME_OFFSET, at + DIRENT_NAME_OFFSET + e.nameLen));
      if (names.has(name)) problems.push(`directory ${ino}: duplicate name '${name}'`);
      names.add(name);
      if (e.ino >= sb.inodes) {
        problems.push(`directory ${ino}: entry '${name}' points at inode ${e.ino} out of range`);
        continue;
      }
      if (name === '.') {
        if (e.ino !== ino) problems.push(`directory ${ino}: '.' points at ${e.ino}`);
        links.set(ino, (links.get(ino) ?? 0) + 1);
        continue;
      }
      if (name === '..') {
        if (e.ino !== parentOf.get(ino)) problems.push(`directory ${ino}: '..' points at ${e.ino}, parent is ${parentOf.get(ino)}`);
        continue;
      }
      const child = inode.decode(img, sb.itable * BLOCK + e.ino * INODE_SIZE);
      links.set(e.ino, (links.get(e.ino) ?? 0) + 1);
      if ((child.mode & 0o170000) === 0o040000) {
        subdirs++;
        if (parentOf.has(e.ino)) problems.push(`directory ${e.ino} has two parents`);
        parentOf.set(e.ino, ino);
      }
      queue.push(e.ino);
    }
    if (!names.has('.') || !names.has('..')) problems.push(`directory ${ino}: missing '.' or '..'`);
    links.set(ino, (links.get(ino) ?? 0) + subdirs);
  }
  for (const ino of seen) {
    const i = inode.decode(img, sb.itable * BLOCK + ino * INODE_SIZE);
    if (i.nlink !== links.get(ino)) problems.push(`inode ${ino}: link count ${i.nlink}, found ${links.get(ino) ?? 0}`);
  }
  let freeBlocks = 0;
  for (let b = 0; b < sb.blocks; b++) {
    const used = b < sb.data || usedBlocks.has(b);
    if (used !== bit(1, b)) problems.push(`block ${b}: bitmap says ${bit(1, b) ? 'used' : 'free'}, it is ${used ? 'used' : 'free'}`);
    if (!bit(1, b)) freeBlocks++;
  }
  let freeInodes = 0;
  for (let n = 0; n < sb.inodes; n++) {
    const used = n <= ROOT_INO || seen.has(n);
    if (used !== bit(2, n)) problems.push(`inode ${n}: bitmap says ${bit(2, n) ? 'used' : 'free'}, it is ${used ? 'used' : 'free'}`);
    if (!bit(2, n)) freeInodes++;
  }
  if (freeBlocks !== sb.freeBlocks) problems.push(`superblock: ${sb.freeBlocks} free blocks, bitmap has ${freeBlocks}`);
  if (freeInodes !== sb.freeInodes) problems.push(`superblock: ${sb.freeInodes} free inodes, bitmap has ${freeInodes}`);
  return problems;
}
