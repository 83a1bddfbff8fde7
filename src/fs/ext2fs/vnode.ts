/**
 * The vnode operations of ext2fs (NetBSD's ext2fs_vnops.c): one Ext2Vnode per
 * in-memory inode, keyed by inode number, translating VFS calls into
 * directory, file and attribute work on the Ext2Fs. The VFS holds the mount
 * lock around every call (exclusive for mutations), so no locks are taken here.
 */

import { kerr } from '../../kern/error.js';
import {
  ifmtToVType, S_IFMT, VTYPE_TO_IFMT,
  type DirEntry, type FileLayout, type NewNode, type SetAttr, type Timespec, type Vattr, type VnodeImpl, type VnodeKey,
} from '../../vfs/types.js';
import { addEntry, findEntry, findEntryNow, FT_TO_VTYPE, isEmptyDir, newDirBlock, readEntries, removeEntry, retarget } from './dir.js';
import { hasBlocks, initExtentRoot, inlineBytes, isFastSymlink, readFile, readFileNow, releaseInode, truncateFile, writeFile } from './file.js';
import type { Ext2Fs } from './fs.js';
import { Inode } from './inode.js';
import { COMPAT, IFLAG, RO_COMPAT } from './layout.js';
import { fullName, readXattrs, splitName, writeXattrs } from './xattr.js';

const LINK_MAX = 65000;
const enc = new TextEncoder();
const dec = new TextDecoder();

export class Ext2Vnode implements VnodeImpl {
  constructor(
    readonly fs: Ext2Fs,
    readonly ip: Inode,
    private readonly vnodes: Map<number, Ext2Vnode>,
  ) {}

  get key(): VnodeKey {
    return this.ip.ino;
  }

  getattr(): Vattr {
    const ip = this.ip;
    const type = ifmtToVType(ip.mode) ?? 'reg';
    let rdev = 0;
    if (type === 'chr' || type === 'blk') {
      const dv = new DataView(ip.iblock.buffer, ip.iblock.byteOffset, 60);
      rdev = dv.getUint32(0, true) || dv.getUint32(4, true);
    }
    const a: Vattr = {
      type, mode: ip.mode & 0o7777, nlink: ip.links, uid: ip.uid, gid: ip.gid, size: ip.size, blocks: ip.blocks512,
      blksize: this.fs.bs, ino: ip.ino, rdev, atime: ip.atime, mtime: ip.mtime, ctime: ip.ctime,
    };
    if (ip.crtime) a.birthtime = ip.crtime;
    return a;
  }

  private dirty(): void {
    this.fs.markDirty(this.ip);
  }

  async setattr(attr: SetAttr): Promise<void> {
    const ip = this.ip;
    if (attr.size !== undefined) {
      if (ip.isDir) throw kerr('EISDIR', 'ext2fs: truncate of a directory');
      await truncateFile(this.fs, ip, attr.size);
      ip.mtime = attr.mtime ?? attr.ctime ?? this.fs.k.now();
    }
    if (attr.mode !== undefined) ip.mode = (ip.mode & S_IFMT) | (attr.mode & 0o7777);
    if (attr.uid !== undefined) ip.uid = attr.uid;
    if (attr.gid !== undefined) ip.gid = attr.gid;
    if (attr.atime) ip.atime = attr.atime;
    if (attr.mtime) ip.mtime = attr.mtime;
    // An atime-only update (from read) leaves ctime alone.
    const onlyAtime = attr.atime && attr.mode === undefined && attr.uid === undefined && attr.gid === undefined &&
      attr.size === undefined && !attr.mtime;
    if (attr.ctime) ip.ctime = attr.ctime;
    else if (!onlyAtime) ip.ctime = this.fs.k.now();
    this.dirty();
  }

  private dir(): void {
    if (!this.ip.isDir) throw kerr('ENOTDIR', `ext2fs: inode ${this.ip.ino} is not a directory`);
  }

  async lookup(name: string): Promise<VnodeKey | null> {
    const now = this.lookupNow(name);
    if (now !== undefined) return now;
    const f = await findEntry(this.fs, this.ip, name);
    return f ? f.inode : null;
  }

  /** The blocks a lookup reads (index path, leaf, or a linear directory's blocks) are usually cached: then no wait. */
  lookupNow(name: string): VnodeKey | null | undefined {
    this.dir();
    const f = findEntryNow(this.fs, this.ip, name);
    return f === undefined ? undefined : f ? f.inode : null;
  }

  /** Allocates and initialises a new inode of `type`; the caller links it in. */
  private async newNode(node: NewNode, isDir: boolean): Promise<Ext2Vnode> {
    const fs = this.fs;
    const ino = await fs.allocInode(this.ip.ino, isDir);
    const ip = fs.newInode(ino);
    ip.mode = VTYPE_TO_IFMT[node.type] | (node.mode & 0o7777);
    ip.uid = node.uid;
    ip.gid = node.gid;
    ip.links = 1;
    ip.atime = ip.mtime = ip.ctime = node.time;
    if (ip.hasExtra(0x98)) ip.crtime = node.time;
    ip.live = true;
    const vp = new Ext2Vnode(fs, ip, this.vnodes);
    this.vnodes.set(ino, vp);
    fs.markDirty(ip);
    return vp;
  }

  /**
   * Runs the steps that give a new inode its contents and its name; when one fails (ENOSPC while the
   * directory grows), the inode and what it was given are freed again, so that a failed create leaves no
   * unattached inode behind.
   */
  private async orUndo(vp: Ext2Vnode, steps: () => Promise<void>): Promise<void> {
    try {
      await steps();
    } catch (e) {
      const ip = vp.ip;
      try {
        await releaseInode(this.fs, ip);
        this.vnodes.delete(ip.ino);
      } catch {
        // The first error is the one to report; fsck finds what freeing could not undo.
      }
      throw e;
    }
  }

  private touchDir(time: Timespec): void {
    this.ip.mtime = this.ip.ctime = time;
    this.dirty();
  }

  async create(name: string, node: NewNode): Promise<VnodeKey> {
    this.dir();
    const vp = await this.newNode(node, false);
    const ip = vp.ip;
    if (node.type === 'reg' && this.fs.extents) initExtentRoot(ip);
    if ((node.type === 'chr' || node.type === 'blk') && node.rdev) {
      const dv = new DataView(ip.iblock.buffer, ip.iblock.byteOffset, 60);
      const r = node.rdev;
      if ((r >>> 8) < 256 && (r & 0xfff000ff) === (r & 0xff)) dv.setUint32(0, r, true);
      else dv.setUint32(4, r, true);
    }
    // The new inode is dirty (newNode) and reaches its inode-table block when it is flushed (reclaim, sync).
    await this.orUndo(vp, () => addEntry(this.fs, this.ip, name, ip.ino, node.type));
    this.touchDir(node.time);
    return ip.ino;
  }

  private incLinks(ip: Inode, dir: boolean): void {
    if (ip.links >= LINK_MAX) {
      if (dir && this.fs.has('ro', RO_COMPAT.DIR_NLINK)) { ip.links = 1; return; }
      throw kerr('EMLINK', `ext2fs: inode ${ip.ino} has ${ip.links} links`);
    }
    if (dir && ip.links === 1 && this.fs.has('ro', RO_COMPAT.DIR_NLINK)) return; // counts no longer kept
    ip.links++;
  }

  async mkdir(name: string, node: NewNode): Promise<VnodeKey> {
    this.dir();
    const fs = this.fs;
    if (this.ip.links >= LINK_MAX && !fs.has('ro', RO_COMPAT.DIR_NLINK)) throw kerr('EMLINK', `ext2fs: directory ${this.ip.ino} is full of subdirectories`);
    const vp = await this.newNode(node, true);
    const ip = vp.ip;
    ip.links = 2;
    if (fs.extents) initExtentRoot(ip);
    await this.orUndo(vp, async () => {
      await writeFile(fs, ip, newDirBlock(fs, ip, ip.ino, this.ip.ino), 0);
      await fs.writeInode(ip);
      await addEntry(fs, this.ip, name, ip.ino, 'dir');
    });
    this.incLinks(this.ip, true);
    this.touchDir(node.time);
    return ip.ino;
  }

  async symlink(name: string, target: string, node: NewNode): Promise<VnodeKey> {
    this.dir();
    const fs = this.fs;
    const bytes = enc.encode(target);
    if (bytes.length >= fs.bs || bytes.length === 0) throw kerr('ENAMETOOLONG', `ext2fs: symlink target of ${bytes.length} bytes`);
    const vp = await this.newNode({ ...node, type: 'lnk' }, false);
    const ip = vp.ip;
    await this.orUndo(vp, async () => {
      if (bytes.length < 60) {
        ip.iblock.set(bytes);
        ip.size = bytes.length;
      } else {
        if (fs.extents) initExtentRoot(ip);
        await writeFile(fs, ip, bytes, 0);
      }
      await fs.writeInode(ip);
      await addEntry(fs, this.ip, name, ip.ino, 'lnk');
    });
    this.touchDir(node.time);
    return ip.ino;
  }

  async link(name: string, target: VnodeImpl, time: Timespec): Promise<void> {
    this.dir();
    const t = target as Ext2Vnode;
    if (t.ip.isDir) throw kerr('EPERM', 'ext2fs: hard link to a directory');
    if (t.ip.links >= LINK_MAX) throw kerr('EMLINK', `ext2fs: inode ${t.ip.ino} has ${t.ip.links} links`);
    await addEntry(this.fs, this.ip, name, t.ip.ino, ifmtToVType(t.ip.mode) ?? 'reg');
    t.ip.links++;
    t.ip.ctime = time;
    t.dirty();
    this.touchDir(time);
  }

  private async dropLink(ip: Inode, time: Timespec): Promise<void> {
    ip.links = ip.isDir ? 0 : Math.max(0, ip.links - 1);
    ip.ctime = time;
    this.fs.markDirty(ip);
    if (ip.links === 0) await orphanAdd(this.fs, ip);
  }

  async remove(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    this.dir();
    const n = node as Ext2Vnode;
    await removeEntry(this.fs, this.ip, name);
    await this.dropLink(n.ip, time);
    this.touchDir(time);
  }

  async rmdir(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    this.dir();
    const n = node as Ext2Vnode;
    if (!(await isEmptyDir(this.fs, n.ip))) throw kerr('ENOTEMPTY', `ext2fs: directory ${n.ip.ino} is not empty`);
    await removeEntry(this.fs, this.ip, name);
    await this.dropLink(n.ip, time);
    if (this.ip.links > 2) this.ip.links--;
    this.touchDir(time);
  }

  async rename(fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec): Promise<void> {
    this.dir();
    const fs = this.fs;
    const src = (from as Ext2Vnode).ip;
    const dst = toDir as Ext2Vnode;
    const old = to as Ext2Vnode | null;
    if (old && old.ip.ino === src.ino) return;
    const type = ifmtToVType(src.mode) ?? 'reg';
    if (old?.ip.isDir && !(await isEmptyDir(fs, old.ip))) throw kerr('ENOTEMPTY', `ext2fs: directory ${old.ip.ino} is not empty`);
    // The names change first, then the link counts that follow them: a read failing part-way (these calls
    // fail before they change anything) must not leave an inode named more times than its links, or a
    // directory a link short, or a later call frees an inode a name still leads to.
    if (old) await retarget(fs, dst.ip, toName, src.ino, type);
    else await addEntry(fs, dst.ip, toName, src.ino, type);
    try {
      await removeEntry(fs, this.ip, fromName);
    } catch (e) {
      // The old name stays: take the new one back, so the file keeps one name.
      if (old) await retarget(fs, dst.ip, toName, old.ip.ino, ifmtToVType(old.ip.mode) ?? 'reg');
      else await removeEntry(fs, dst.ip, toName);
      throw e;
    }
    let failed: unknown = null;
    if (old) {
      if (old.ip.isDir && dst.ip.links > 2) dst.ip.links--;
      try {
        await this.dropLink(old.ip, time);
      } catch (e) {
        failed = e;
      }
    }
    src.ctime = time;
    fs.markDirty(src);
    this.touchDir(time);
    dst.touchDir(time);
    if (src.isDir && dst.ip.ino !== this.ip.ino) {
      if (this.ip.links > 2) this.ip.links--;
      this.incLinks(dst.ip, true);
      try {
        await retarget(fs, src, '..', dst.ip.ino, 'dir');
      } catch (e) {
        failed ??= e;
      }
    }
    if (failed) throw failed;
  }

  async readlink(): Promise<string> {
    const ip = this.ip;
    if (!ip.isLnk) throw kerr('EINVAL', `ext2fs: inode ${ip.ino} is not a symlink`);
    if (ip.size > this.fs.bs * 16) throw kerr('EIO', `ext2fs: inode ${ip.ino}: symlink of ${ip.size} bytes`);
    if (ip.flags & IFLAG.INLINE_DATA) return dec.decode(inlineBytes(this.fs, ip).subarray(0, ip.size));
    if (isFastSymlink(this.fs, ip)) return dec.decode(ip.iblock.subarray(0, ip.size));
    const buf = new Uint8Array(ip.size);
    const n = await readFile(this.fs, ip, buf, 0);
    return dec.decode(buf.subarray(0, n));
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    const now = this.readNow(buf, offset);
    if (now !== undefined) return now;
    return readFile(this.fs, this.ip, buf, offset);
  }

  /** read() when the mapping is in memory and the device reads at once (a host image, reads up to 256 KiB); holes and inline data need no device. */
  readNow(buf: Uint8Array, offset: number): number | undefined {
    if (this.ip.isDir) throw kerr('EISDIR', 'ext2fs: read of a directory');
    if (!hasBlocks(this.fs, this.ip) && !(this.ip.flags & IFLAG.INLINE_DATA)) return 0;
    return readFileNow(this.fs, this.ip, buf, offset);
  }

  async layout(offset: number, len: number): Promise<FileLayout | null> {
    const ip = this.ip;
    // Only what read() takes from the device as it is: not inline data, nothing a writable mount may hold back.
    if (!ip.isReg || !this.fs.opts.readonly || ip.flags & IFLAG.INLINE_DATA || !hasBlocks(this.fs, ip)) return null;
    if (offset >= ip.size) return { n: 0, segs: [] };
    return this.fs.layoutData(ip, Math.min(len, ip.size - offset), offset);
  }

  async write(buf: Uint8Array, offset: number, time: Timespec): Promise<number> {
    if (!this.ip.isReg) throw kerr(this.ip.isDir ? 'EISDIR' : 'EINVAL', 'ext2fs: write to a non-regular file');
    const n = await writeFile(this.fs, this.ip, buf, offset);
    this.ip.mtime = this.ip.ctime = time;
    this.dirty();
    return n;
  }

  async readdir(cookie: number, max: number): Promise<DirEntry[]> {
    this.dir();
    const list = await readEntries(this.fs, this.ip, cookie, max);
    return list.map((e) => {
      const d: DirEntry = { name: e.name, key: e.inode, next: e.next };
      const t = FT_TO_VTYPE[e.type];
      if (t) d.type = t;
      return d;
    });
  }

  async fsync(): Promise<void> {
    await this.fs.sync();
  }

  async inactive(): Promise<void> {
    const ip = this.ip;
    if (ip.links === 0 && !this.fs.opts.readonly) {
      await orphanRemove(this.fs, ip);
      await releaseInode(this.fs, ip);
      this.vnodes.delete(ip.ino);
      return;
    }
    await this.fs.flushInode(ip);
  }

  async reclaim(): Promise<void> {
    if (this.ip.links === 0 && !this.fs.opts.readonly && this.vnodes.get(this.ip.ino) === this) {
      await this.inactive();
    }
    await this.fs.flushInode(this.ip);
    if (this.vnodes.get(this.ip.ino) === this) this.vnodes.delete(this.ip.ino);
  }

  // ---------------------------------------------------------------- extended attributes

  private async attrs() {
    return (await readXattrs(this.fs, this.ip)).filter((x) => !(x.index === 7 && x.name === 'data'));
  }

  async getxattr(name: string): Promise<Uint8Array | null> {
    const { index, name: suffix } = splitName(name);
    const x = (await this.attrs()).find((a) => a.index === index && a.name === suffix);
    return x ? x.value : null;
  }

  async listxattr(): Promise<string[]> {
    return (await this.attrs()).map(fullName);
  }

  async setxattr(name: string, value: Uint8Array, flags: { create?: boolean; replace?: boolean }): Promise<void> {
    if (!this.fs.has('compat', COMPAT.EXT_ATTR)) throw kerr('EOPNOTSUPP', 'ext2fs: file system has no ext_attr feature');
    const { index, name: suffix } = splitName(name);
    if (index === 7 && suffix === 'data') throw kerr('EPERM', 'ext2fs: system.data is reserved');
    const all = await readXattrs(this.fs, this.ip);
    const i = all.findIndex((a) => a.index === index && a.name === suffix);
    if (i >= 0 && flags.create) throw kerr('EEXIST', `ext2fs: attribute ${name} exists`);
    if (i < 0 && flags.replace) throw kerr('ENODATA', `ext2fs: no attribute ${name}`);
    const x = { index, name: suffix, value: value.slice() };
    if (i >= 0) all[i] = x;
    else all.push(x);
    await writeXattrs(this.fs, this.ip, all);
    this.ip.ctime = this.fs.k.now();
    this.dirty();
  }

  async removexattr(name: string): Promise<void> {
    const { index, name: suffix } = splitName(name);
    const all = await readXattrs(this.fs, this.ip);
    const i = all.findIndex((a) => a.index === index && a.name === suffix && !(index === 7 && suffix === 'data'));
    if (i < 0) throw kerr('ENODATA', `ext2fs: no attribute ${name}`);
    all.splice(i, 1);
    await writeXattrs(this.fs, this.ip, all);
    this.ip.ctime = this.fs.k.now();
    this.dirty();
  }
}

// ---------------------------------------------------------------- the orphan list [DL §3.1 s_last_orphan]

/** Puts an inode whose link count fell to 0 on the superblock's orphan list (linked through i_dtime). */
export async function orphanAdd(fs: Ext2Fs, ip: Inode): Promise<void> {
  ip.dtime = fs.sb.lastOrphan;
  fs.sb.lastOrphan = ip.ino;
  fs.markSuperDirty();
  fs.markDirty(ip);
  await fs.writeInode(ip);
}

export async function orphanRemove(fs: Ext2Fs, ip: Inode): Promise<void> {
  if (fs.sb.lastOrphan === ip.ino) {
    fs.sb.lastOrphan = ip.dtime;
    fs.markSuperDirty();
    ip.dtime = 0;
    return;
  }
  let cur = fs.sb.lastOrphan;
  const seen = new Set<number>();
  for (let n = 0; cur !== 0 && n < fs.sb.inodesCount && !seen.has(cur); n++) {
    seen.add(cur);
    const o = fs.liveInode(cur) ?? (await fs.readInode(cur));
    if (o.dtime === ip.ino) {
      o.dtime = ip.dtime;
      fs.markDirty(o);
      await fs.flushInode(o);
      ip.dtime = 0;
      return;
    }
    cur = o.dtime;
  }
}
