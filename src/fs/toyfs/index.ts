/**
 * toyfs: the small read-write file system built in docs/writing-a-driver.md.
 * One bitmap block for blocks and one for inodes, 128-byte inodes with 19
 * direct blocks and one indirect block, directories of fixed 64-byte
 * entries. Small on purpose; complete enough to pass the cross-file-system
 * suite, and as careful with hostile images as any other component.
 */

import { KernelError } from '../../kern/error.js';
import type { BlockDevice } from '../../dev/blockdev.js';
import { BufCache } from '../../vfs/bio.js';
import type {
  DirEntry, FileSystemType, FsMount, KernelServices, NewNode, SetAttr, StatVfs, Timespec, Vattr, VnodeImpl, VnodeKey, VType,
} from '../../vfs/types.js';
import { S_IFDIR, S_IFMT, VTYPE_TO_IFMT, ifmtToVType } from '../../vfs/types.js';
import {
  BLOCK, DIRECT_OFFSET, DIRENT_NAME_OFFSET, DIRENT_SIZE, INODE_SIZE, INODES_PER_BLOCK, MAGIC, MAX_BLOCKS, MAX_FILE_SIZE,
  NAME_MAX, NDIRECT, PTRS_PER_BLOCK, ROOT_INO, VERSION, dirent, inode as inodeStruct, superblock, type Inode, type Superblock,
} from './layout.js';

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const SLOTS_PER_BLOCK = BLOCK / DIRENT_SIZE;

function corrupt(what: string): KernelError {
  return new KernelError('EIO', `toyfs: ${what}`);
}

/** Checks a superblock against the device; returns a reason it is not a toyfs, or null. */
export function checkSuperblock(sb: Superblock, devSize: number): string | null {
  if (sb.magic !== MAGIC) return 'bad magic';
  if (sb.version !== VERSION) return `unknown version ${sb.version}`;
  if (sb.blocks < 8 || sb.blocks > MAX_BLOCKS || sb.blocks * BLOCK > devSize) return `block count ${sb.blocks} does not fit the device`;
  if (sb.inodes < INODES_PER_BLOCK || sb.inodes > BLOCK * 8 || sb.inodes % INODES_PER_BLOCK !== 0) return `bad inode count ${sb.inodes}`;
  if (sb.itable !== 3 || sb.data !== 3 + sb.inodes / INODES_PER_BLOCK || sb.data >= sb.blocks) return 'bad layout';
  if (sb.freeBlocks > sb.blocks || sb.freeInodes > sb.inodes) return 'free counts larger than totals';
  return null;
}

class ToyNode implements VnodeImpl {
  /** Blocks allocated to the file (data and indirect), counted at load and kept up to date. */
  nblocks = 0;
  /** A directory's names, built on first use: name -> slot and inode, plus the free slots. */
  index: { names: Map<string, { slot: number; ino: number }>; free: number[] } | null = null;

  constructor(
    readonly fs: ToyMount,
    readonly key: VnodeKey,
    public ino: Inode,
  ) {}

  get type(): VType {
    return ifmtToVType(this.ino.mode)!;
  }

  getattr(): Vattr {
    const i = this.ino;
    const blocks = this.nblocks;
    return {
      type: this.type, mode: i.mode & 0o7777, nlink: i.nlink, uid: i.uid, gid: i.gid, size: i.size,
      blocks: blocks * (BLOCK / 512), blksize: BLOCK, ino: this.key, rdev: 0,
      atime: { sec: i.atime, nsec: i.atimeNs }, mtime: { sec: i.mtime, nsec: i.mtimeNs }, ctime: { sec: i.ctime, nsec: i.ctimeNs },
    };
  }

  async setattr(a: SetAttr): Promise<void> {
    const i = this.ino;
    if (a.size !== undefined) {
      if (this.type !== 'reg') throw new KernelError(this.type === 'dir' ? 'EISDIR' : 'EINVAL');
      if (a.size > MAX_FILE_SIZE) throw new KernelError('EFBIG');
      await this.fs.truncate(this, a.size);
    }
    if (a.mode !== undefined) i.mode = (i.mode & S_IFMT) | (a.mode & 0o7777);
    if (a.uid !== undefined) i.uid = a.uid;
    if (a.gid !== undefined) i.gid = a.gid;
    if (a.atime) [i.atime, i.atimeNs] = [a.atime.sec, a.atime.nsec];
    if (a.mtime) [i.mtime, i.mtimeNs] = [a.mtime.sec, a.mtime.nsec];
    if (a.ctime) [i.ctime, i.ctimeNs] = [a.ctime.sec, a.ctime.nsec];
    await this.fs.writeInode(this);
  }

  private dirOnly(): void {
    if (this.type !== 'dir') throw new KernelError('ENOTDIR');
  }

  async lookup(name: string): Promise<VnodeKey | null> {
    this.dirOnly();
    const slot = await this.fs.findEntry(this, name);
    return slot === null ? null : slot.ino;
  }

  private async make(name: string, node: NewNode, type: VType): Promise<ToyNode> {
    this.dirOnly();
    const child = await this.fs.allocInode(type, node);
    let linked = false;
    try {
      if (type === 'dir') {
        await this.fs.addEntry(child, '.', child.key);
        await this.fs.addEntry(child, '..', this.key);
        this.ino.nlink++;
        linked = true;
      }
      await this.fs.addEntry(this, name, child.key);
    } catch (e) {
      // addEntry may fail after the name is in place (writing this directory's inode): the node is then named
      // and stays. Otherwise it goes, and the parent's link is given back only if it was taken.
      if (this.index?.names.get(name)?.ino !== child.key) {
        if (linked) this.ino.nlink--;
        child.ino.nlink = 0;
        await this.fs.freeInode(child);
      }
      throw e;
    }
    this.touch(node.time);
    await this.fs.writeInode(this);
    return child;
  }

  private touch(t: Timespec): void {
    [this.ino.mtime, this.ino.mtimeNs, this.ino.ctime, this.ino.ctimeNs] = [t.sec, t.nsec, t.sec, t.nsec];
  }

  async create(name: string, node: NewNode): Promise<VnodeKey> {
    if (node.type !== 'reg') throw new KernelError('EOPNOTSUPP');
    return (await this.make(name, node, 'reg')).key;
  }

  async mkdir(name: string, node: NewNode): Promise<VnodeKey> {
    return (await this.make(name, node, 'dir')).key;
  }

  async symlink(name: string, target: string, node: NewNode): Promise<VnodeKey> {
    const bytes = utf8.encode(target);
    if (bytes.length > BLOCK) throw new KernelError('ENAMETOOLONG');
    const child = await this.make(name, node, 'lnk');
    await this.fs.writeData(child, bytes, 0);
    await this.fs.writeInode(child);
    return child.key;
  }

  async link(name: string, target: VnodeImpl, time: Timespec): Promise<void> {
    this.dirOnly();
    const t = target as ToyNode;
    if (t.ino.nlink >= 0xffff) throw new KernelError('EMLINK');
    await this.fs.addEntry(this, name, t.key);
    t.ino.nlink++;
    [t.ino.ctime, t.ino.ctimeNs] = [time.sec, time.nsec];
    await this.fs.writeInode(t);
    this.touch(time);
    await this.fs.writeInode(this);
  }

  async remove(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as ToyNode;
    await this.fs.removeEntry(this, name);
    n.ino.nlink--;
    [n.ino.ctime, n.ino.ctimeNs] = [time.sec, time.nsec];
    await this.fs.writeInode(n);
    this.touch(time);
    await this.fs.writeInode(this);
  }

  async rmdir(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as ToyNode;
    if (!(await this.fs.isEmpty(n))) throw new KernelError('ENOTEMPTY');
    await this.fs.removeEntry(this, name);
    n.ino.nlink = 0;
    await this.fs.writeInode(n);
    this.ino.nlink--;
    this.touch(time);
    await this.fs.writeInode(this);
  }

  async rename(fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec): Promise<void> {
    const f = from as ToyNode;
    const td = toDir as ToyNode;
    const t = to as ToyNode | null;
    const isDir = f.type === 'dir';
    if (t?.type === 'dir' && !(await this.fs.isEmpty(t))) throw new KernelError('ENOTEMPTY');
    // Names first, then the link counts that follow them, all in memory: a failed read or write part-way must
    // not leave an inode named with fewer links than names (a later call would free it while named).
    // setEntry and removeEntry change nothing when they fail; addEntry may fail once the name is in place.
    let failed: unknown = null;
    if (t) await this.fs.setEntry(td, toName, f.key);
    else {
      try {
        await this.fs.addEntry(td, toName, f.key);
      } catch (e) {
        if (td.index?.names.get(toName)?.ino !== f.key) throw e;
        failed = e;
      }
    }
    try {
      await this.fs.removeEntry(this, fromName);
    } catch (e) {
      // The old name stays: take the new one back, so the file keeps one name.
      if (t) await this.fs.setEntry(td, toName, t.key);
      else await this.fs.removeEntry(td, toName);
      throw e;
    }
    if (t) {
      if (t.type === 'dir') {
        t.ino.nlink = 0;
        td.ino.nlink--;
      } else t.ino.nlink--;
      [t.ino.ctime, t.ino.ctimeNs] = [time.sec, time.nsec];
    }
    if (isDir && td !== this) {
      this.ino.nlink--;
      td.ino.nlink++;
      try {
        await this.fs.setEntry(f, '..', td.key);
      } catch (e) {
        failed ??= e;
      }
    }
    [f.ino.ctime, f.ino.ctimeNs] = [time.sec, time.nsec];
    this.touch(time);
    td.touch(time);
    for (const n of new Set([t, f, this, td])) {
      if (!n) continue;
      try {
        await this.fs.writeInode(n);
      } catch (e) {
        failed ??= e;
      }
    }
    if (failed) throw failed;
  }

  async readlink(): Promise<string> {
    if (this.type !== 'lnk') throw new KernelError('EINVAL');
    if (this.ino.size > BLOCK) throw corrupt(`inode ${this.key}: symlink of ${this.ino.size} bytes`);
    const buf = new Uint8Array(this.ino.size);
    await this.fs.readData(this, buf, 0);
    return fromUtf8.decode(buf);
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    if (this.type === 'dir') throw new KernelError('EISDIR');
    return this.fs.readData(this, buf, offset);
  }

  async write(buf: Uint8Array, offset: number, time: Timespec): Promise<number> {
    if (offset + buf.length > MAX_FILE_SIZE) throw new KernelError('EFBIG');
    await this.fs.writeData(this, buf, offset);
    this.touch(time);
    await this.fs.writeInode(this);
    return buf.length;
  }

  async readdir(cookie: number, max: number): Promise<DirEntry[]> {
    this.dirOnly();
    const out: DirEntry[] = [];
    const slots = this.ino.size / DIRENT_SIZE;
    for (let s = cookie; s < slots && out.length < max; s++) {
      const e = await this.fs.readSlot(this, s);
      if (e.ino !== 0) out.push({ name: e.name, key: e.ino, next: s + 1 });
    }
    return out;
  }

  async fsync(): Promise<void> {
    await this.fs.bc.flush();
  }

  async inactive(): Promise<void> {
    if (this.ino.nlink === 0) await this.fs.freeInode(this);
  }
}

interface Slot {
  slot: number;
  ino: number;
  name: string;
}

export class ToyMount implements FsMount {
  readonly rootKey = ROOT_INO;
  readonly nameMax = NAME_MAX;
  readonly maxFileSize = MAX_FILE_SIZE;
  readonly bc: BufCache;

  private constructor(
    readonly dev: BlockDevice,
    readonly sb: Superblock,
    readonly readonly: boolean,
    readonly k: KernelServices,
  ) {
    this.bc = new BufCache(dev);
  }

  static async mount(dev: BlockDevice, readonly: boolean, k: KernelServices): Promise<ToyMount> {
    if (dev.size < 8 * BLOCK) throw new KernelError('EFTYPE', 'toyfs: device too small');
    const buf = new Uint8Array(BLOCK);
    await dev.read(buf, 0);
    const sb = superblock.decode(buf);
    const bad = checkSuperblock(sb, dev.size);
    if (bad) throw new KernelError('EFTYPE', `toyfs: superblock: ${bad}`);
    const fs = new ToyMount(dev, sb, readonly, k);
    if (!readonly) {
      sb.clean = 0;
      await fs.writeSuperblock();
      await fs.bc.flush();
    }
    return fs;
  }

  // ---- blocks and bitmaps ----

  private checkBlock(b: number, what: string): number {
    if (b < this.sb.data || b >= this.sb.blocks) throw corrupt(`${what}: block ${b} outside the data area`);
    return b;
  }

  private async bitmap(which: 1 | 2) {
    return this.bc.bread(which * BLOCK, BLOCK);
  }

  /** Where the last search for a free block / inode ended: the next search starts there (a rotor). */
  private readonly rotor = [0, 0, 0];

  private async allocBit(which: 1 | 2, from: number, to: number): Promise<number> {
    const bp = await this.bitmap(which);
    try {
      const start = Math.min(Math.max(this.rotor[which]!, from), to - 1);
      for (let n = 0; n < to - from; n++) {
        const i = start + n < to ? start + n : from + (start + n - to);
        if (bp.data[i >> 3] === 0xff && (i & 7) === 0 && i + 8 <= to) {
          n += 7;
          continue;
        }
        if ((bp.data[i >> 3]! & (1 << (i & 7))) === 0) {
          bp.data[i >> 3]! |= 1 << (i & 7);
          this.bc.bdwrite(bp);
          this.rotor[which] = i + 1;
          return i;
        }
      }
    } catch (e) {
      this.bc.brelse(bp);
      throw e;
    }
    this.bc.brelse(bp);
    throw new KernelError('ENOSPC');
  }

  private async freeBit(which: 1 | 2, i: number): Promise<void> {
    const bp = await this.bitmap(which);
    if ((bp.data[i >> 3]! & (1 << (i & 7))) === 0) {
      this.bc.brelse(bp);
      throw corrupt(`${which === 1 ? 'block' : 'inode'} ${i} freed twice`);
    }
    bp.data[i >> 3]! &= ~(1 << (i & 7));
    this.bc.bdwrite(bp);
  }

  private async allocBlock(n: ToyNode): Promise<number> {
    if (this.sb.freeBlocks === 0) throw new KernelError('ENOSPC');
    const b = await this.allocBit(1, this.sb.data, this.sb.blocks);
    this.sb.freeBlocks--;
    n.nblocks++;
    const bp = await this.bc.getblk(b * BLOCK, BLOCK);
    bp.data.fill(0);
    this.bc.bdwrite(bp);
    return b;
  }

  private async freeBlock(n: ToyNode, b: number): Promise<void> {
    await this.freeBit(1, this.checkBlock(b, 'free'));
    this.sb.freeBlocks++;
    n.nblocks--;
  }

  /** The physical block of file block `lbn`, allocating it (and the indirect block) when `alloc`. 0 is a hole. */
  private async bmap(n: ToyNode, lbn: number, alloc: boolean): Promise<number> {
    const i = n.ino;
    if (lbn < NDIRECT) {
      if (i.direct[lbn] === 0 && alloc) i.direct[lbn] = await this.allocBlock(n);
      return i.direct[lbn] === 0 ? 0 : this.checkBlock(i.direct[lbn]!, `inode ${n.key}`);
    }
    const x = lbn - NDIRECT;
    if (x >= PTRS_PER_BLOCK) throw new KernelError('EFBIG');
    if (i.indirect === 0) {
      if (!alloc) return 0;
      i.indirect = await this.allocBlock(n);
    }
    const bp = await this.bc.bread(this.checkBlock(i.indirect, `inode ${n.key} indirect`) * BLOCK, BLOCK);
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset, BLOCK);
    let b = dv.getUint32(x * 4, true);
    if (b === 0 && alloc) {
      try {
        b = await this.allocBlock(n);
      } catch (e) {
        this.bc.brelse(bp);
        throw e;
      }
      dv.setUint32(x * 4, b, true);
      this.bc.bdwrite(bp);
    } else this.bc.brelse(bp);
    return b === 0 ? 0 : this.checkBlock(b, `inode ${n.key} indirect entry`);
  }

  /** Counts the blocks a file holds (for st_blocks), reading its indirect block. */
  private async countBlocks(n: ToyNode): Promise<number> {
    let count = n.ino.direct.filter((b) => b !== 0).length;
    if (n.ino.indirect !== 0) {
      count++;
      const bp = await this.bc.bread(this.checkBlock(n.ino.indirect, `inode ${n.key} indirect`) * BLOCK, BLOCK);
      const dv = new DataView(bp.data.buffer, bp.data.byteOffset, BLOCK);
      for (let x = 0; x < PTRS_PER_BLOCK; x++) if (dv.getUint32(x * 4, true) !== 0) count++;
      this.bc.brelse(bp);
    }
    return count;
  }

  async readData(n: ToyNode, buf: Uint8Array, offset: number): Promise<number> {
    const size = n.ino.size;
    if (offset >= size) return 0;
    const len = Math.min(buf.length, size - offset);
    for (let done = 0; done < len; ) {
      const pos = offset + done;
      const inBlock = pos % BLOCK;
      const chunk = Math.min(BLOCK - inBlock, len - done);
      const pbn = await this.bmap(n, Math.floor(pos / BLOCK), false);
      if (pbn === 0) buf.fill(0, done, done + chunk);
      else {
        const bp = await this.bc.bread(pbn * BLOCK, BLOCK);
        buf.set(bp.data.subarray(inBlock, inBlock + chunk), done);
        this.bc.brelse(bp);
      }
      done += chunk;
    }
    return len;
  }

  async writeData(n: ToyNode, buf: Uint8Array, offset: number): Promise<void> {
    for (let done = 0; done < buf.length; ) {
      const pos = offset + done;
      const inBlock = pos % BLOCK;
      const chunk = Math.min(BLOCK - inBlock, buf.length - done);
      const pbn = await this.bmap(n, Math.floor(pos / BLOCK), true);
      const bp = await this.bc.bread(pbn * BLOCK, BLOCK);
      bp.data.set(buf.subarray(done, done + chunk), inBlock);
      this.bc.bdwrite(bp);
      done += chunk;
      if (pos + chunk > n.ino.size) n.ino.size = pos + chunk;
    }
  }

  /** Frees every block past `size`, and zeroes the tail of the last block kept (so growing reads zeros). */
  async truncate(n: ToyNode, size: number): Promise<void> {
    const i = n.ino;
    const keep = Math.ceil(size / BLOCK);
    for (let lbn = keep; lbn < Math.ceil(i.size / BLOCK); lbn++) {
      const pbn = await this.bmap(n, lbn, false);
      if (pbn === 0) continue;
      await this.freeBlock(n, pbn);
      if (lbn < NDIRECT) i.direct[lbn] = 0;
      else {
        const bp = await this.bc.bread(i.indirect * BLOCK, BLOCK);
        new DataView(bp.data.buffer, bp.data.byteOffset, BLOCK).setUint32((lbn - NDIRECT) * 4, 0, true);
        this.bc.bdwrite(bp);
      }
    }
    if (keep <= NDIRECT && i.indirect !== 0) {
      await this.freeBlock(n, i.indirect);
      i.indirect = 0;
    }
    if (size % BLOCK !== 0 && size < i.size) {
      const pbn = await this.bmap(n, Math.floor(size / BLOCK), false);
      if (pbn !== 0) {
        const bp = await this.bc.bread(pbn * BLOCK, BLOCK);
        bp.data.fill(0, size % BLOCK);
        this.bc.bdwrite(bp);
      }
    }
    i.size = size;
  }

  // ---- inodes ----

  private inodeOffset(ino: number): number {
    return this.sb.itable * BLOCK + ino * INODE_SIZE;
  }

  async vget(key: VnodeKey): Promise<VnodeImpl> {
    if (!Number.isInteger(key) || key < 1 || key >= this.sb.inodes) throw new KernelError('ESTALE');
    const off = this.inodeOffset(key);
    const blk = off - (off % BLOCK);
    const bp = await this.bc.bread(blk, BLOCK);
    const raw = inodeStruct.decode(bp.data, off - blk);
    const direct: number[] = [];
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset + (off - blk), INODE_SIZE);
    for (let d = 0; d < NDIRECT; d++) direct.push(dv.getUint32(DIRECT_OFFSET + 4 * d, true));
    this.bc.brelse(bp);
    const ino: Inode = { ...raw, direct };
    const type = ifmtToVType(ino.mode);
    if (ino.nlink === 0 || (type !== 'reg' && type !== 'dir' && type !== 'lnk')) throw corrupt(`inode ${key}: not in use (mode 0${ino.mode.toString(8)})`);
    if (ino.size > MAX_FILE_SIZE || (type === 'dir' && ino.size % DIRENT_SIZE !== 0)) throw corrupt(`inode ${key}: bad size ${ino.size}`);
    const n = new ToyNode(this, key, ino);
    n.nblocks = await this.countBlocks(n);
    return n;
  }

  async writeInode(n: ToyNode): Promise<void> {
    const off = this.inodeOffset(n.key);
    const blk = off - (off % BLOCK);
    const bp = await this.bc.bread(blk, BLOCK);
    inodeStruct.encode(n.ino, bp.data, off - blk);
    const dv = new DataView(bp.data.buffer, bp.data.byteOffset + (off - blk), INODE_SIZE);
    for (let d = 0; d < NDIRECT; d++) dv.setUint32(DIRECT_OFFSET + 4 * d, n.ino.direct[d]!, true);
    this.bc.bdwrite(bp);
  }

  async allocInode(type: VType, node: NewNode): Promise<ToyNode> {
    if (this.sb.freeInodes === 0) throw new KernelError('ENOSPC');
    const ino = await this.allocBit(2, ROOT_INO + 1, this.sb.inodes);
    this.sb.freeInodes--;
    const t = node.time;
    const n = new ToyNode(this, ino, {
      mode: VTYPE_TO_IFMT[type] | (node.mode & 0o7777), nlink: type === 'dir' ? 2 : 1, uid: node.uid, gid: node.gid, size: 0,
      atime: t.sec, atimeNs: t.nsec, mtime: t.sec, mtimeNs: t.nsec, ctime: t.sec, ctimeNs: t.nsec, indirect: 0,
      direct: new Array<number>(NDIRECT).fill(0),
    });
    await this.writeInode(n);
    return n;
  }

  async freeInode(n: ToyNode): Promise<void> {
    await this.truncate(n, 0);
    n.ino.mode = 0;
    n.ino.nlink = 0;
    await this.writeInode(n);
    await this.freeBit(2, n.key);
    this.sb.freeInodes++;
  }

  // ---- directories ----

  async readSlot(dir: ToyNode, s: number): Promise<Slot> {
    const pbn = await this.bmap(dir, Math.floor(s / SLOTS_PER_BLOCK), false);
    if (pbn === 0) throw corrupt(`directory ${dir.key}: hole at slot ${s}`);
    const bp = await this.bc.bread(pbn * BLOCK, BLOCK);
    const at = (s % SLOTS_PER_BLOCK) * DIRENT_SIZE;
    const e = dirent.decode(bp.data, at);
    let name = '';
    if (e.ino !== 0) {
      if (e.nameLen === 0 || e.nameLen > NAME_MAX || e.ino >= this.sb.inodes) {
        this.bc.brelse(bp);
        throw corrupt(`directory ${dir.key}: bad entry at slot ${s}`);
      }
      name = fromUtf8.decode(bp.data.subarray(at + DIRENT_NAME_OFFSET, at + DIRENT_NAME_OFFSET + e.nameLen));
    }
    this.bc.brelse(bp);
    return { slot: s, ino: e.ino, name };
  }

  private async writeSlot(dir: ToyNode, s: number, ino: number, name: string): Promise<void> {
    const bytes = utf8.encode(name);
    if (bytes.length > NAME_MAX) throw new KernelError('ENAMETOOLONG');
    const pbn = await this.bmap(dir, Math.floor(s / SLOTS_PER_BLOCK), true);
    const bp = await this.bc.bread(pbn * BLOCK, BLOCK);
    const at = (s % SLOTS_PER_BLOCK) * DIRENT_SIZE;
    bp.data.fill(0, at, at + DIRENT_SIZE);
    dirent.encode({ ino, nameLen: ino === 0 ? 0 : bytes.length }, bp.data, at);
    if (ino !== 0) bp.data.set(bytes, at + DIRENT_NAME_OFFSET);
    this.bc.bdwrite(bp);
  }

  /** The directory's name index, built by one scan of its slots. */
  private async dirIndex(dir: ToyNode): Promise<NonNullable<ToyNode['index']>> {
    if (dir.index) return dir.index;
    const names = new Map<string, { slot: number; ino: number }>();
    const free: number[] = [];
    const slots = dir.ino.size / DIRENT_SIZE;
    for (let s = slots - 1; s >= 0; s--) {
      const e = await this.readSlot(dir, s);
      if (e.ino === 0) free.push(s);
      else if (names.has(e.name)) throw corrupt(`directory ${dir.key}: name '${e.name}' appears twice`);
      else names.set(e.name, { slot: s, ino: e.ino });
    }
    dir.index = { names, free };
    return dir.index;
  }

  async findEntry(dir: ToyNode, name: string): Promise<Slot | null> {
    const e = (await this.dirIndex(dir)).names.get(name);
    return e === undefined ? null : { slot: e.slot, ino: e.ino, name };
  }

  async addEntry(dir: ToyNode, name: string, ino: number): Promise<void> {
    const idx = await this.dirIndex(dir);
    const slots = dir.ino.size / DIRENT_SIZE;
    const slot = idx.free.length > 0 ? idx.free[idx.free.length - 1]! : slots;
    if (slot === slots && (slots + 1) * DIRENT_SIZE > MAX_FILE_SIZE) throw new KernelError('ENOSPC');
    await this.writeSlot(dir, slot, ino, name);
    if (slot === slots) dir.ino.size += DIRENT_SIZE;
    else idx.free.pop();
    idx.names.set(name, { slot, ino });
    await this.writeInode(dir);
  }

  async setEntry(dir: ToyNode, name: string, ino: number): Promise<void> {
    const e = (await this.dirIndex(dir)).names.get(name);
    if (!e) throw corrupt(`directory ${dir.key}: entry '${name}' vanished`);
    await this.writeSlot(dir, e.slot, ino, name);
    e.ino = ino;
  }

  async removeEntry(dir: ToyNode, name: string): Promise<void> {
    const idx = await this.dirIndex(dir);
    const e = idx.names.get(name);
    if (!e) throw new KernelError('ENOENT');
    await this.writeSlot(dir, e.slot, 0, '');
    idx.names.delete(name);
    idx.free.push(e.slot);
  }

  async isEmpty(dir: ToyNode): Promise<boolean> {
    const idx = await this.dirIndex(dir);
    for (const name of idx.names.keys()) if (name !== '.' && name !== '..') return false;
    return true;
  }

  // ---- whole file system ----

  private async writeSuperblock(): Promise<void> {
    const bp = await this.bc.bread(0, BLOCK);
    superblock.encode(this.sb, bp.data);
    this.bc.bdwrite(bp);
  }

  async statvfs(): Promise<StatVfs> {
    const { blocks, freeBlocks, inodes, freeInodes } = this.sb;
    return { bsize: BLOCK, frsize: BLOCK, blocks, bfree: freeBlocks, bavail: freeBlocks, files: inodes, ffree: freeInodes, favail: freeInodes, fsid: 0, namemax: NAME_MAX };
  }

  async sync(): Promise<void> {
    if (this.readonly) return;
    await this.writeSuperblock();
    await this.bc.flush();
  }

  async unmount(): Promise<void> {
    if (this.readonly) return;
    this.sb.clean = 1;
    await this.sync();
  }
}

/** Makes an empty toyfs on `dev`: superblock, bitmaps, inode table, and the root directory. */
export async function newfs(dev: BlockDevice, inodes?: number): Promise<void> {
  const blocks = Math.min(Math.floor(dev.size / BLOCK), MAX_BLOCKS);
  if (blocks < 16) throw new KernelError('ENOSPC', 'toyfs: a device of at least 16 KiB is needed');
  let ninodes = inodes ?? Math.max(INODES_PER_BLOCK * 2, Math.floor(blocks / 4));
  ninodes = Math.min(BLOCK * 8, Math.ceil(ninodes / INODES_PER_BLOCK) * INODES_PER_BLOCK);
  const data = 3 + ninodes / INODES_PER_BLOCK;
  if (data + 1 >= blocks) throw new KernelError('ENOSPC', 'toyfs: no room for data blocks');
  const img = new Uint8Array(data * BLOCK + BLOCK);
  const rootBlock = data;
  const bbitmap = img.subarray(BLOCK, 2 * BLOCK);
  for (let b = 0; b <= rootBlock; b++) bbitmap[b >> 3]! |= 1 << (b & 7);
  const ibitmap = img.subarray(2 * BLOCK, 3 * BLOCK);
  ibitmap[0] = 0b11; // inode 0 (none) and 1 (root)
  superblock.encode({ magic: MAGIC, version: VERSION, blocks, inodes: ninodes, itable: 3, data, freeBlocks: blocks - data - 1, freeInodes: ninodes - 2, clean: 1 }, img);
  const now = Math.floor(Date.now() / 1000);
  const rootOff = 3 * BLOCK + ROOT_INO * INODE_SIZE;
  inodeStruct.encode({ mode: S_IFDIR | 0o755, nlink: 2, uid: 0, gid: 0, size: 2 * DIRENT_SIZE, atime: now, atimeNs: 0, mtime: now, mtimeNs: 0, ctime: now, ctimeNs: 0, indirect: 0 }, img, rootOff);
  new DataView(img.buffer, rootOff + DIRECT_OFFSET, 4).setUint32(0, rootBlock, true);
  const dirAt = rootBlock * BLOCK;
  for (const [i, name] of ['.', '..'].entries()) {
    dirent.encode({ ino: ROOT_INO, nameLen: name.length }, img, dirAt + i * DIRENT_SIZE);
    img.set(utf8.encode(name), dirAt + i * DIRENT_SIZE + DIRENT_NAME_OFFSET);
  }
  // The inode table and the root directory block are written whole; data blocks are zeroed when allocated.
  await dev.write(img, 0);
  await dev.flush();
}

export const toyfs: FileSystemType = {
  name: 'toyfs',
  needsDevice: true,
  capabilities: { nameMax: NAME_MAX, maxFileSize: MAX_FILE_SIZE, specialFiles: false, xattr: false, sparse: true, timeResolutionNs: 1 },
  async probe(dev) {
    const buf = new Uint8Array(BLOCK);
    await dev.read(buf, 0);
    const sb = superblock.decode(buf);
    if (checkSuperblock(sb, dev.size) !== null) return null;
    return { type: 'toyfs', variant: 'toyfs v1', size: sb.blocks * BLOCK };
  },
  async mount(dev, opts, k) {
    if (!dev) throw new KernelError('ENOTBLK');
    return ToyMount.mount(dev, opts.readonly, k);
  },
  async newfs(dev, opts) {
    const n = opts.options.get('inodes');
    await newfs(dev, n === undefined ? undefined : Number(n));
  },
};
