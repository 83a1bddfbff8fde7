/**
 * A file or directory of a mounted FAT volume (NetBSD's struct denode): the fields of its short directory
 * entry kept in memory and written back through the buffer cache on every change, its cluster chain
 * (validated when first needed), and the vnode operations.
 *
 * What FAT lacks is answered, not emulated: symlinks, hard links and special files are EOPNOTSUPP; owner
 * and group come from the mount (chown to anything else is EPERM); the permission bits are the mount's
 * masks with the write bits removed when the read-only attribute is set.
 */

import { andThen, type Awaitable } from '../../kern/awaitable.js';
import { kerr } from '../../kern/error.js';
import type { DirEntry, NewNode, SetAttr, Timespec, Vattr, VnodeImpl, VnodeKey } from '../../vfs/types.js';
import { EOC } from './fat.js';
import {
  ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_READ_ONLY, MAX_FILE_SIZE, exactShortName, fatToUnix, unixToFat,
} from './format.js';
import { ROOT_KEY, type DirIndex, type EntryFields, type MsdosMount } from './vfsops.js';

/** 1980-01-01, the earliest FAT date, shown for the root directory which has no entry. */
const FAT_EPOCH = 315532800;

export class FatNode implements VnodeImpl {
  /** Cluster chain of a regular file, once loaded. */
  private chain: number[] | null = null;
  /** 0 once the entry was removed (the file lives on while open). */
  nlink = 1;
  /** A directory's index, pinned while this vnode lives (for the link count). */
  ix: DirIndex | null = null;
  private timeCache: { wd: number; wt: number; ad: number; cd: number; ct: number; ctt: number; mtime: Timespec; atime: Timespec; birth: Timespec } | null = null;
  /** What getattr() last answered (frozen), handed out again while nothing in it changed. */
  private lastAttr: Vattr | null = null;
  /** The root directory has no entry: its times live in memory only (FAT keeps none for it). */
  private rootTimes = { mtime: FAT_EPOCH, atime: FAT_EPOCH };

  constructor(
    readonly mp: MsdosMount,
    readonly key: VnodeKey,
    /** The short entry's fields; null for the root directory, which has no entry. */
    readonly f: EntryFields | null,
    public parentKey: VnodeKey,
  ) {}

  get isRoot(): boolean {
    return this.f === null;
  }

  get isDir(): boolean {
    return this.f === null || (this.f.attr & ATTR_DIRECTORY) !== 0;
  }

  /** The first cluster that names this directory's entries (0 for the fixed root of FAT12/16). */
  dirClu(): number {
    if (this.f === null) return this.mp.rootDirClu;
    if (!this.isDir) throw kerr('ENOTDIR');
    if (!this.mp.fat.validCluster(this.f.cluster)) {
      throw kerr('EIO', `msdosfs: directory entry (key ${this.key}) has start cluster ${this.f.cluster}, outside 2..${this.mp.fat.maxCluster}`);
    }
    return this.f.cluster;
  }

  private entry(): EntryFields {
    if (this.f === null) throw kerr('EPERM', 'msdosfs: the root directory has no entry');
    return this.f;
  }

  /** Frozen: getattr hands the same objects out again (see there). */
  private ts(sec: number, nsec = 0): Timespec {
    return Object.freeze({ sec, nsec });
  }

  getattr(): Vattr {
    const o = this.mp.opts;
    const f = this.f;
    const cs = this.mp.csize;
    let size: number;
    if (f === null) size = this.mp.geo.type === 32 ? (this.mp.dirChainCached(this.mp.rootDirClu)?.length ?? 1) * cs : this.mp.geo.rootBytes;
    else if (this.isDir) size = (this.mp.dirChainCached(f.cluster)?.length ?? 1) * cs;
    else size = f.size;
    const mode = this.isDir ? o.dirmask : f!.attr & ATTR_READ_ONLY ? o.mask & ~0o222 : o.mask;
    let mtime: Timespec, atime: Timespec, birth: Timespec;
    if (f === null) {
      mtime = this.ts(this.rootTimes.mtime);
      atime = this.ts(this.rootTimes.atime);
      birth = this.ts(FAT_EPOCH);
    } else {
      // getattr runs on every permission check: convert the dates only when they changed.
      const c = this.timeCache;
      if (c !== null && c.wd === f.wrtDate && c.wt === f.wrtTime && c.ad === f.lstAccDate && c.cd === f.crtDate && c.ct === f.crtTime && c.ctt === f.crtTimeTenth) {
        ({ mtime, atime, birth } = c);
      } else {
        mtime = this.ts(fatToUnix(f.wrtDate, f.wrtTime, o.tz));
        atime = this.ts(fatToUnix(f.lstAccDate, 0, o.tz));
        const tenth = Math.min(f.crtTimeTenth, 199);
        birth = this.ts(fatToUnix(f.crtDate, f.crtTime, o.tz) + Math.floor(tenth / 100), (tenth % 100) * 10_000_000);
        this.timeCache = { wd: f.wrtDate, wt: f.wrtTime, ad: f.lstAccDate, cd: f.crtDate, ct: f.crtTime, ctt: f.crtTimeTenth, mtime, atime, birth };
      }
      // Shared, not copied (as ext2fs does); frozen, so no caller can change them in place.
    }
    const nlink = this.isDir ? (this.nlink === 0 ? 0 : 2 + (this.ix?.subdirs ?? 0)) : this.nlink;
    // The VFS asks several times per system call: the same frozen object while nothing changed.
    const last = this.lastAttr;
    if (last !== null && last.size === size && last.mode === mode && last.nlink === nlink && last.mtime === mtime && last.atime === atime && last.birthtime === birth) {
      return last;
    }
    this.lastAttr = Object.freeze({
      type: this.isDir ? 'dir' : 'reg',
      mode,
      nlink,
      uid: o.uid,
      gid: o.gid,
      size,
      blocks: (Math.ceil(size / cs) * cs) / 512,
      blksize: cs,
      ino: this.key,
      rdev: 0,
      atime,
      mtime,
      ctime: mtime,
      birthtime: birth,
    });
    return this.lastAttr;
  }

  /** Writes the fields back to the entry (at once when its block is in memory, the usual case). */
  private save(): void | Promise<void> {
    if (this.f === null || this.nlink === 0) return;
    const rec = this.mp.keyRec(this.key);
    if (rec === undefined || rec.detached) return;
    return this.mp.writeEntry(rec.dirClu, rec.idx, this.f);
  }

  private setMtime(t: Timespec): void {
    if (this.f === null) return;
    const ft = unixToFat(t.sec, this.mp.opts.tz);
    this.f.wrtDate = ft.date;
    this.f.wrtTime = ft.time;
  }

  /** A directory changed: its modification time follows (the root has none). */
  private touch(t: Timespec): void | Promise<void> {
    if (this.f === null) {
      this.rootTimes.mtime = t.sec;
      return;
    }
    this.setMtime(t);
    return this.save();
  }

  async setattr(a: SetAttr): Promise<void> {
    const o = this.mp.opts;
    if (a.uid !== undefined && a.uid !== -1 && a.uid !== o.uid) throw kerr('EPERM', 'msdosfs: owner is fixed by the mount (uid=)');
    if (a.gid !== undefined && a.gid !== -1 && a.gid !== o.gid) throw kerr('EPERM', 'msdosfs: group is fixed by the mount (gid=)');
    if (a.size !== undefined) {
      if (this.isDir) throw kerr('EISDIR');
      await this.truncate(a.size);
    }
    const f = this.f;
    if (f === null) {
      if (a.mtime !== undefined) this.rootTimes.mtime = a.mtime.sec - (a.mtime.sec % 2);
      if (a.atime !== undefined) this.rootTimes.atime = a.atime.sec;
      return;
    }
    if (a.mode !== undefined && !this.isDir) {
      f.attr = a.mode & 0o200 ? f.attr & ~ATTR_READ_ONLY : f.attr | ATTR_READ_ONLY;
    }
    if (a.atime !== undefined) f.lstAccDate = unixToFat(a.atime.sec, o.tz).date;
    if (a.mtime !== undefined) this.setMtime(a.mtime);
    await this.save();
  }

  /**
   * A directory whose index could not be read when its vnode was made (an I/O error) is pinned once it can
   * be: until then its link count leaves out its subdirectories.
   */
  private async repin(): Promise<void> {
    if (this.ix === null && this.isDir && this.nlink !== 0 && this.f !== null && this.mp.fat.validCluster(this.f.cluster)) {
      this.ix = await this.mp.pinDir(this.f.cluster);
    }
  }

  async lookup(name: string): Promise<VnodeKey | null> {
    const now = this.lookupNow(name);
    if (now !== undefined) return now;
    if (this.ix === null) await this.repin();
    const clu = this.dirClu();
    const s = this.mp.findSlot(await this.mp.dirIndex(clu), name);
    return s === undefined ? null : this.mp.keyFor(clu, s.idx, this.key);
  }

  /** The index is usually in memory (pinned while this vnode lives): then the lookup needs no read. */
  lookupNow(name: string): VnodeKey | null | undefined {
    if (this.nlink === 0) throw kerr('ENOENT');
    if (name === '..') return this.isRoot ? ROOT_KEY : this.parentKey;
    if (this.ix === null) return undefined;
    const clu = this.dirClu();
    const ix = this.mp.dirIndexCached(clu);
    if (ix === undefined) return undefined;
    const s = this.mp.findSlot(ix, name);
    return s === undefined ? null : this.mp.keyFor(clu, s.idx, this.key);
  }

  create(name: string, n: NewNode): Awaitable<VnodeKey> {
    if (n.type !== 'reg') throw kerr('EOPNOTSUPP', 'msdosfs: FAT has no special files');
    const clu = this.dirClu();
    const attr = ATTR_ARCHIVE | (n.mode & 0o200 ? 0 : ATTR_READ_ONLY);
    return andThen(this.mp.addEntry(clu, name, this.mp.newFields(attr, 0, n.time)), (idx) =>
      andThen(this.touch(n.time), () => this.mp.keyFor(clu, idx, this.key)),
    );
  }

  async mkdir(name: string, n: NewNode): Promise<VnodeKey> {
    const clu = this.dirClu();
    const c = await this.mp.fat.allocDir();
    const f = this.mp.newFields(ATTR_DIRECTORY, c, n.time);
    try {
      await this.mp.initDir(c, this.isRoot ? 0 : clu, f);
      const idx = await this.mp.addEntry(clu, name, f);
      await this.touch(n.time);
      return this.mp.keyFor(clu, idx, this.key);
    } catch (e) {
      await this.mp.forgetDir(c);
      await this.mp.fat.free([c]);
      throw e;
    }
  }

  async symlink(): Promise<VnodeKey> {
    throw kerr('EOPNOTSUPP', 'msdosfs: FAT has no symbolic links');
  }

  async link(): Promise<void> {
    throw kerr('EOPNOTSUPP', 'msdosfs: FAT has no hard links');
  }

  async readlink(): Promise<string> {
    throw kerr('EINVAL');
  }

  /** The slot of `name` in this directory, checked to be the entry of `node`. */
  private async slotOf(name: string, node: FatNode) {
    const clu = this.dirClu();
    const s = await this.mp.lookupSlot(clu, name);
    const rec = this.mp.keyRec(node.key);
    if (s === undefined || rec === undefined || rec.detached || rec.dirClu !== clu || rec.idx !== s.idx) throw kerr('ENOENT');
    return s;
  }

  async remove(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as FatNode;
    if (n.isDir) throw kerr('EISDIR');
    const s = await this.slotOf(name, n);
    await this.mp.removeEntry(this.dirClu(), s);
    n.nlink = 0;
    await this.touch(time);
  }

  async rmdir(name: string, node: VnodeImpl, time: Timespec): Promise<void> {
    const n = node as FatNode;
    if (!n.isDir || n.isRoot) throw kerr('ENOTDIR');
    const ix = await this.mp.dirIndex(n.dirClu());
    if (ix.count > 0) throw kerr('ENOTEMPTY');
    const s = await this.slotOf(name, n);
    await this.mp.removeEntry(this.dirClu(), s);
    n.nlink = 0;
    await this.touch(time);
  }

  async rename(fromName: string, from: VnodeImpl, toDir: VnodeImpl, toName: string, to: VnodeImpl | null, time: Timespec): Promise<void> {
    const src = from as FatNode;
    const dst = toDir as FatNode;
    const fromClu = this.dirClu();
    const toClu = dst.dirClu();
    const s = await this.slotOf(fromName, src);
    if (to !== null && to !== from && to.key !== from.key) {
      const victim = to as FatNode;
      if (victim.isDir) {
        const ix = await this.mp.dirIndex(victim.dirClu());
        if (ix.count > 0) throw kerr('ENOTEMPTY');
      }
      const ts = await dst.slotOf(toName, victim);
      await this.mp.removeEntry(toClu, ts);
      victim.nlink = 0;
    }
    // The source slot may have moved into a freed tail only if the directory shrank; look it up again.
    const s2 = (await this.mp.lookupSlot(fromClu, fromName)) ?? s;
    await this.mp.moveEntry(fromClu, s2, toClu, toName, src.entry(), src.key, dst.key);
    src.parentKey = dst.key;
    if (src.isDir && dst !== this) await this.mp.setDotDot(src.dirClu(), dst.isRoot ? 0 : toClu);
    await this.touch(time);
    if (dst !== this) await dst.touch(time);
  }

  /** loadChain() when the FAT pages the walk needs are in memory, without a suspension; undefined otherwise. */
  private loadChainCached(): number[] | undefined {
    if (this.chain !== null) return this.chain;
    const f = this.entry();
    if (f.cluster === 0 && f.size === 0) return (this.chain = []);
    const need = Math.ceil(f.size / this.mp.csize);
    // The cases loadChain() refuses are left to it.
    if (f.cluster === 0 || need === 0 || need > this.mp.geo.clusterCount) return undefined;
    const chain = this.mp.fat.chainCached(f.cluster, need, `file (key ${this.key}, ${f.size} bytes)`, need);
    if (chain !== undefined) this.chain = chain;
    return chain;
  }

  private async loadChain(): Promise<number[]> {
    if (this.chain !== null) return this.chain;
    const f = this.entry();
    const need = Math.ceil(f.size / this.mp.csize);
    if (f.cluster === 0) {
      if (f.size > 0) throw kerr('EIO', `msdosfs: file (key ${this.key}) of ${f.size} bytes has no clusters`);
      this.chain = [];
    } else {
      if (need === 0) throw kerr('EIO', `msdosfs: empty file (key ${this.key}) has start cluster ${f.cluster}`);
      // A chain longer than the volume's cluster count must loop: refuse before walking (and allocating) that far.
      if (need > this.mp.geo.clusterCount) {
        throw kerr('EIO', `msdosfs: file (key ${this.key}) size ${f.size} needs ${need} clusters, more than the volume's ${this.mp.geo.clusterCount}`);
      }
      this.chain = await this.mp.fat.chain(f.cluster, need, `file (key ${this.key}, ${f.size} bytes)`, need);
    }
    return this.chain;
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    const now = this.readNow(buf, offset);
    if (now !== undefined) return now;
    // Not at end of file (readNow answers that): chainIO reads what the device could not read at once.
    const n = Math.min(buf.length, this.entry().size - offset);
    await this.mp.chainIO(this.loadChainCached() ?? (await this.loadChain()), buf.subarray(0, n), offset, false);
    return n;
  }

  /** read() when the chain is in memory and the device reads at once (small reads of an image in the host's cache). */
  readNow(buf: Uint8Array, offset: number): number | undefined {
    if (this.isDir) throw kerr('EISDIR');
    const size = this.entry().size;
    if (offset >= size || buf.length === 0) return 0;
    const n = Math.min(buf.length, size - offset);
    const chain = this.loadChainCached();
    return chain !== undefined && this.mp.chainReadNow(chain, buf.subarray(0, n), offset) ? n : undefined;
  }

  /** The chain, grown to hold `bytes` (without waiting when the FAT pages it needs are in memory). */
  private extendTo(bytes: number): Awaitable<number[]> {
    const chain = this.loadChainCached();
    if (chain === undefined) return this.loadChain().then((chain) => this.extendChain(chain, bytes));
    return this.extendChain(chain, bytes);
  }

  private extendChain(chain: number[], bytes: number): Awaitable<number[]> {
    const f = this.entry();
    const need = Math.ceil(bytes / this.mp.csize);
    if (need <= chain.length) return chain;
    const last = chain.length ? chain[chain.length - 1]! : 0;
    return andThen(this.mp.fat.alloc(need - chain.length, last || this.mp.fat.nextFree - 1), (got) => {
      const linked = chain.length === 0 ? ((f.cluster = got[0]!), true) : this.mp.fat.setNow(last, got[0]!);
      if (linked) {
        chain.push(...got);
        return chain;
      }
      return this.mp.fat.set(last, got[0]!).then(() => {
        chain.push(...got);
        return chain;
      });
    });
  }

  write(buf: Uint8Array, offset: number, time: Timespec): Awaitable<number> {
    if (this.isDir) throw kerr('EISDIR');
    const f = this.entry();
    if (buf.length === 0) return 0;
    const end = offset + buf.length;
    if (end > MAX_FILE_SIZE) throw kerr('EFBIG');
    const chain = this.chain !== null && this.chain.length * this.mp.csize >= end ? this.chain : this.extendTo(end);
    if (chain instanceof Promise || offset > f.size) return this.writePast(chain, buf, offset, time);
    return this.writeIn(chain, buf, offset, time);
  }

  /** write() once the chain is long enough, and past the end of the file the gap zeroed. */
  private async writePast(chain: Awaitable<number[]>, buf: Uint8Array, offset: number, time: Timespec): Promise<number> {
    const c = await chain;
    const f = this.entry();
    if (offset > f.size) await this.mp.zeroRange(c, f.size, offset);
    return this.writeIn(c, buf, offset, time);
  }

  /** The rest of write(): the data through the stage, then size, archive bit and mtime into the entry. */
  private writeIn(chain: number[], buf: Uint8Array, offset: number, time: Timespec): Awaitable<number> {
    const f = this.entry();
    return andThen(this.mp.chainWrite(chain, buf, offset, f.size), () => {
      const end = offset + buf.length;
      if (end > f.size) f.size = end;
      f.attr |= ATTR_ARCHIVE;
      this.setMtime(time);
      return andThen(this.save(), () => buf.length);
    });
  }

  private async truncate(size: number): Promise<void> {
    const f = this.entry();
    if (size > MAX_FILE_SIZE) throw kerr('EFBIG');
    if (size === f.size) return;
    if (size < f.size) {
      const chain = await this.loadChain();
      const keep = Math.ceil(size / this.mp.csize);
      if (keep < chain.length) {
        const gone = chain.splice(keep);
        if (keep > 0) await this.mp.fat.set(chain[keep - 1]!, EOC);
        else f.cluster = 0;
        await this.mp.fat.free(gone);
      }
    } else {
      const chain = await this.extendTo(size);
      await this.mp.zeroRange(chain, f.size, size);
    }
    f.size = size;
    f.attr |= ATTR_ARCHIVE;
    await this.save();
  }

  async readdir(cookie: number, max: number): Promise<DirEntry[]> {
    if (!this.isDir) throw kerr('ENOTDIR');
    await this.repin();
    const out: DirEntry[] = [];
    if (cookie === 0) out.push({ name: '.', key: this.key, type: 'dir', next: 1 });
    if (cookie <= 1) out.push({ name: '..', key: this.isRoot ? ROOT_KEY : this.parentKey, type: 'dir', next: 2 });
    if (out.length >= max) return out;
    const clu = this.dirClu();
    const from = Math.max(0, cookie - 2);
    const ordered = this.mp.dirIndexCached(clu)?.ordered;
    if (ordered) {
      // The directory is unchanged since its index was built: its entries without a second scan.
      let lo = 0;
      let hi = ordered.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ordered[mid]!.idx < from) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < ordered.length && out.length < max; i++) {
        const s = ordered[i]!;
        out.push({ name: s.name, key: this.mp.keyFor(clu, s.idx, this.key), type: s.attr & ATTR_DIRECTORY ? 'dir' : 'reg', next: s.idx + 3 });
      }
      return out;
    }
    await this.mp.scanDir(clu, from, (s) => {
      out.push({ name: s.name, key: this.mp.keyFor(clu, s.idx, this.key), type: s.attr & ATTR_DIRECTORY ? 'dir' : 'reg', next: s.idx + 3 });
      return out.length < max;
    });
    return out;
  }

  async fsync(): Promise<void> {
    await this.mp.sync();
  }

  async inactive(): Promise<void> {
    if (this.nlink !== 0 || this.f === null) return;
    if (this.isDir) {
      if (!this.mp.fat.validCluster(this.f.cluster)) return;
      const chain = [...(await this.mp.dirChain(this.f.cluster))];
      await this.mp.forgetDir(this.f.cluster);
      await this.mp.fat.free(chain);
    } else {
      const chain = await this.loadChain();
      await this.mp.fat.free(chain);
      this.chain = [];
    }
    this.f.cluster = 0;
  }

  reclaim(): void {
    if (this.ix !== null && this.f !== null && this.nlink !== 0 && this.mp.fat.validCluster(this.f.cluster)) this.mp.unpinDir(this.f.cluster);
    this.ix = null;
    this.mp.forgetKey(this.key);
  }
}

/** Writes '.' and '..' into a fresh directory cluster (fatgen103 §6.4: '..' of a root child is 0). */
export function dotEntries(d: Uint8Array, self: number, parent: number, f: EntryFields, encodeEntry: (d: Uint8Array, off: number, f: EntryFields) => void): void {
  encodeEntry(d, 0, { ...f, cluster: self, size: 0 });
  d.set(exactShortName('.')!.raw, 0);
  encodeEntry(d, 32, { ...f, cluster: parent, size: 0 });
  d.set(exactShortName('..')!.raw, 32);
}
