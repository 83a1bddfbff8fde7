/**
 * A mounted FAT volume (NetBSD's struct msdosfsmount): the geometry, the FAT, the buffer cache for
 * directory blocks, the table of vnode keys, directory scanning and indexing, directory-entry creation
 * and removal, and data I/O in contiguous cluster runs.
 *
 * Vnode keys. FAT has no inode numbers. A file is named by the location of its short directory entry
 * (directory's first cluster, entry index), as NetBSD does, but that location changes on rename while the
 * VFS keeps the vnode under its key. So keys are synthetic: a counter, mapped to locations in `keys` and
 * back in `locKeys`; rename moves the mapping, removal detaches it. The root is key 1.
 *
 * Caches. Directory chains (by first cluster) and directory indexes (folded name -> entry, a used-slot
 * map) live here, not in vnodes, because a directory's children outlive its vnode; both are updated in
 * place by every change this driver makes.
 *
 * Timestamps are stored as UTC (FAT stores local time without a zone); `tz=<minutes east of UTC>` shifts.
 */

import type { Awaitable } from '../../kern/awaitable.js';
import { kerr } from '../../kern/error.js';
import { BufCache, type Buf } from '../../vfs/bio.js';
import type { BlockDevice, FsMount, KernelServices, MountOptions, StatVfs, Timespec, VnodeImpl, VnodeKey } from '../../vfs/types.js';
import { findVolume, parseBootSector, type Geometry } from './bootsect.js';
import { Fat, EOC } from './fat.js';
import {
  ATTR_DIRECTORY, ATTR_LONG_NAME, ATTR_LONG_NAME_MASK, ATTR_VOLUME_ID, DIRENT, DIRENT_SIZE, FSINFO, FSI_LEAD, FSI_STRUC, FSI_TRAIL,
  LFN_CHAR_OFFS, LFN_CHARS, LFN_LAST, LFNENT, MAX_DIR_BYTES, MAX_FILE_SIZE, SLOT_END, SLOT_FREE, checkLongName, decode, decodeShortName,
  encode, exactShortName, foldName, shortNameBasis, shortNameChecksum, shortNameWithTail, unixToFat,
} from './format.js';
import { FatNode, dotEntries } from './node.js';

export const ROOT_KEY = 1;

/** One directory entry as scanned: a short entry with the long name that precedes it, if any. */
export interface Slot {
  /** The name shown: the long name, else the decoded short name. */
  name: string;
  /** The 11 short-name bytes as a latin1 string, for uniqueness checks. */
  short: string;
  /** Index of the short entry. */
  idx: number;
  /** Index of the first slot (the first long-name entry, or idx). */
  first: number;
  attr: number;
  /** The folded name and the folded short name (the keys the index knows the entry by), once computed. */
  fold?: string;
  sfold?: string;
}

/** What a directory holds, for lookups and for placing new entries. */
export class DirIndex {
  readonly byName = new Map<string, Slot>();
  /**
   * Names exactly as looked up -> slot, in front of byName: the VFS keeps no name cache for a
   * case-insensitive file system, so every path component comes here, and most come again spelled the
   * same. Emptied whenever an entry is added or removed; only names that exist are kept.
   */
  readonly exact = new Map<string, Slot>();
  readonly shorts = new Set<string>();
  /** Next numeric tail to try, per short-name basis. */
  readonly tails = new Map<string, number>();
  /** Entries in use (1) or free (0), up to the directory's capacity. */
  used: Uint8Array;
  /** Lowest index that may be free. */
  firstFree = 0;
  count = 0;
  /** Entries that are directories: a directory's link count is 2 + this. */
  subdirs = 0;
  /**
   * The entries in directory order as the scan that built the index found them, for readdir without a
   * second scan; null once an entry was added or removed.
   */
  ordered: Slot[] | null = [];
  constructor(capacity: number) {
    this.used = new Uint8Array(capacity);
  }
}

/** Where a key's directory entry lives. */
interface KeyRec {
  /** First cluster of the directory holding the entry (0: the fixed root of FAT12/16). */
  dirClu: number;
  idx: number;
  parentKey: VnodeKey;
  /** The entry was removed; the file lives on only as an open orphan. */
  detached: boolean;
}

/** Fields of a short entry the driver keeps in memory. */
export interface EntryFields {
  attr: number;
  ntRes: number;
  crtTimeTenth: number;
  crtTime: number;
  crtDate: number;
  lstAccDate: number;
  wrtTime: number;
  wrtDate: number;
  cluster: number;
  size: number;
}

export interface MsdosOptions {
  uid: number;
  gid: number;
  mask: number;
  dirmask: number;
  tz: number;
}

function intOption(opts: MountOptions, name: string, def: number, radix: number, max: number): number {
  const v = opts.options.get(name);
  if (v === undefined) return def;
  const n = Number.parseInt(v, radix);
  if (!Number.isSafeInteger(n) || n < -max || n > max || !/^-?[0-9a-fA-F]+$/.test(v)) throw kerr('EINVAL', `msdosfs: bad value for option ${name}: '${v}'`);
  return n;
}

/** A new entry's short name, its NT case flags, and whether long-name slots go with it. */
type ShortChoice = { raw: Uint8Array; ntRes: number; lfn: boolean };

const DIR_INDEX_CACHE = 512;
const ROOT_CHUNK_MAX = 4096;
/** Bytes of file data gathered before one device write (see stageWrite). */
const STAGE_MAX = 8 * 1024 * 1024;
/** Stages being written at once. */
const INFLIGHT_MAX = 4;
/** Bytes of a bounce buffer for reads not aligned to sectors (see devRead). */
const BOUNCE_BYTES = 64 * 1024;

export class MsdosMount implements FsMount {
  readonly rootKey = ROOT_KEY;
  readonly caseInsensitive = true;
  /** The VFS counts UTF-8 bytes; FAT allows 255 UTF-16 units, so 255 bytes is always storable. */
  readonly nameMax = 255;
  readonly maxFileSize = MAX_FILE_SIZE;
  readonly bio: BufCache;
  readonly fat: Fat;
  readonly csize: number;
  readonly readonly: boolean;
  private nextKey = ROOT_KEY + 1;
  private readonly keys = new Map<VnodeKey, KeyRec>();
  /** Directory's first cluster -> entry index -> key (two levels: the keys stay small integers, cheap to hash). */
  private readonly locKeys = new Map<number, Map<number, VnodeKey>>();
  private readonly dirChains = new Map<number, number[]>();
  private readonly dirIndexes = new Map<number, DirIndex>();
  /** Indexes of directories that have a vnode: kept out of the LRU so their link counts stay known. */
  private readonly pinned = new Map<number, { ix: DirIndex; refs: number }>();
  private rootChunk: number;
  /**
   * Write-behind of file data: device bytes [stageStart, stageEnd), whole sectors, not yet written. Files
   * written one after another get clusters one after another, so their data leaves in a few large writes
   * instead of two or three small ones per file. Written before any metadata at sync; reads of data see it.
   * Full stages are written while the next one fills (`inflight`, oldest first, at most INFLIGHT_MAX), so
   * the driver's work overlaps the host's; a stage overlapping one still being written waits for it.
   */
  private stageBuf: Uint8Array | null = null;
  private stageStart = 0;
  private stageEnd = 0;
  /**
   * When the stage ends with a file's last bytes, the end of that file's last cluster: the bytes up to it
   * lie past the file's end, so the next file's first cluster, usually right there, joins the stage with
   * them zeroed. Otherwise stageEnd.
   */
  private stageSlack = 0;
  private readonly inflight: { buf: Uint8Array; start: number; end: number; done: Promise<void>; failed: boolean }[] = [];
  private readonly spareBufs: Uint8Array[] = [];
  /** Free bounce buffers of devRead. */
  private readonly bounces: Uint8Array[] = [];
  root!: FatNode;
  /** Label from the root directory's volume entry, else the boot sector's. */
  label: string;

  private constructor(
    readonly dev: BlockDevice,
    readonly geo: Geometry,
    readonly opts: MsdosOptions,
    readonly k: KernelServices,
    readonlyMount: boolean,
  ) {
    this.readonly = readonlyMount;
    this.csize = geo.clusterSize;
    this.bio = new BufCache(dev, 8 * 1024 * 1024);
    this.fat = new Fat(dev, {
      type: geo.type,
      clusterCount: geo.clusterCount,
      fatOffset: geo.reservedSectors * geo.bytesPerSector,
      fatBytes: geo.fatSectors * geo.bytesPerSector,
      numFats: geo.numFats,
      activeFat: geo.activeFat,
      mirror: geo.mirror,
      sectorSize: geo.bytesPerSector,
    });
    let chunk = geo.bytesPerSector;
    while (chunk * 2 <= ROOT_CHUNK_MAX && geo.rootBytes % (chunk * 2) === 0) chunk *= 2;
    this.rootChunk = chunk;
    this.label = geo.label;
  }

  static async mount(devIn: BlockDevice, mopts: MountOptions, k: KernelServices): Promise<MsdosMount> {
    const found = await findVolume(devIn);
    if (found === null) {
      if (devIn.size >= 512) {
        // Say why the boot sector was refused.
        const sec = new Uint8Array(512);
        await devIn.read(sec, 0);
        parseBootSector(sec, devIn.size);
      }
      throw kerr('EFTYPE', 'msdosfs: no FAT boot sector');
    }
    const opts: MsdosOptions = {
      uid: intOption(mopts, 'uid', 0, 10, 0x7fffffff),
      gid: intOption(mopts, 'gid', 0, 10, 0x7fffffff),
      mask: intOption(mopts, 'mask', 0o755, 8, 0o777) & 0o777,
      dirmask: intOption(mopts, 'dirmask', intOption(mopts, 'mask', 0o755, 8, 0o777), 8, 0o777) & 0o777,
      tz: intOption(mopts, 'tz', 0, 10, 24 * 60),
    };
    const ro = mopts.readonly || found.dev.readonly;
    const mp = new MsdosMount(found.dev, found.geo, opts, k, ro);
    // The FAT's first entry holds the media byte; a mismatch means the FAT is not where the BPB says.
    const fat0 = await mp.fat.getRaw(0);
    if ((fat0 & 0xff) < 0xf0) throw kerr('EFTYPE', `msdosfs: FAT[0] 0x${fat0.toString(16)} has no media descriptor`);
    mp.root = new FatNode(mp, ROOT_KEY, null, ROOT_KEY);
    try {
      mp.root.ix = await mp.pinDir(mp.rootDirClu);
    } catch (e) {
      throw kerr('EFTYPE', `msdosfs: root directory: ${(e as { detail?: string }).detail ?? String(e)}`);
    }
    if (!ro) {
      await mp.readFsInfo();
      await mp.setDirty(true);
    }
    return mp;
  }

  // ---- geometry helpers ----

  clusterOffset(c: number): number {
    return this.geo.dataOffset + (c - 2) * this.csize;
  }

  /** The first cluster that names the root directory's entries (0 for the fixed root of FAT12/16). */
  get rootDirClu(): number {
    return this.geo.type === 32 ? this.geo.rootCluster : 0;
  }

  now(): Timespec {
    return this.k.now();
  }

  // ---- boot sector state ----

  private async readFsInfo(): Promise<void> {
    if (this.geo.type !== 32 || this.geo.fsInfoSector === 0) return;
    const bps = this.geo.bytesPerSector;
    if (this.geo.fsInfoSector >= this.geo.reservedSectors) return;
    const sec = new Uint8Array(bps);
    await this.dev.read(sec, this.geo.fsInfoSector * bps);
    const fi = decode(FSINFO, sec);
    if (fi.leadSig !== FSI_LEAD || fi.strucSig !== FSI_STRUC || fi.trailSig !== FSI_TRAIL) return;
    // Only the next-free hint is used, and only when it is a valid cluster; the free count is counted.
    if (this.fat.validCluster(fi.nxtFree)) this.fat.nextFree = fi.nxtFree;
  }

  private async writeFsInfo(): Promise<void> {
    if (this.geo.type !== 32 || this.geo.fsInfoSector === 0 || this.geo.fsInfoSector >= this.geo.reservedSectors) return;
    if (this.fat.freeCount === undefined) return;
    const bps = this.geo.bytesPerSector;
    const sec = new Uint8Array(bps);
    const off = this.geo.fsInfoSector * bps;
    await this.dev.read(sec, off);
    encode(FSINFO, sec, 0, {
      leadSig: FSI_LEAD, strucSig: FSI_STRUC, trailSig: FSI_TRAIL,
      freeCount: this.fat.freeCount, nxtFree: this.fat.nextFree,
    });
    await this.dev.write(sec, off);
  }

  /**
   * Sets or clears the dirty flags: bit 0 of BS_Reserved1 (Windows NT, Linux, dosfstools) and, on FAT16/32,
   * the clean-shutdown bit of FAT[1] (fatgen103 §4: ClnShutBitMask 0x8000 / 0x08000000, set = clean).
   */
  private async setDirty(dirty: boolean): Promise<void> {
    if (this.geo.type !== 12) {
      const bit = this.geo.type === 16 ? 0x8000 : 0x08000000;
      const v = await this.fat.getRaw(1);
      const nv = dirty ? v & ~bit : v | bit;
      if (nv !== v) {
        await this.fat.set(1, nv);
        await this.fat.flush();
      }
    }
    const bps = this.geo.bytesPerSector;
    const sec = new Uint8Array(bps);
    await this.dev.read(sec, 0);
    const o = this.geo.dirtyByteOffset;
    const v = dirty ? sec[o]! | 1 : sec[o]! & ~1;
    if (v === sec[o]) return;
    sec[o] = v;
    await this.dev.write(sec, 0);
    await this.dev.flush();
  }

  // ---- FsMount ----

  async vget(key: VnodeKey): Promise<VnodeImpl> {
    const now = this.vgetNow(key);
    if (now !== undefined) return now;
    const rec = this.liveKey(key);
    const { bp, off } = await this.entryBlock(rec.dirClu, rec.idx);
    let node: FatNode;
    try {
      node = this.nodeAt(key, rec.parentKey, bp.data, off);
    } finally {
      this.bio.brelse(bp);
    }
    if (node.isDir) {
      // A corrupt directory still gets a vnode (so it can be stat'ed and removed); its contents answer EIO.
      try {
        node.ix = await this.pinDir(node.dirClu());
      } catch (e) {
        if ((e as { code?: string }).code !== 'EIO') throw e;
      }
    }
    return node;
  }

  /** vget() when the entry's block (and a directory's index) is in memory; undefined otherwise. */
  vgetNow(key: VnodeKey): FatNode | undefined {
    if (key === ROOT_KEY) return this.root;
    const rec = this.liveKey(key);
    const at = this.entryBlockCached(rec.dirClu, rec.idx);
    if (at === undefined) return undefined;
    let node: FatNode;
    try {
      node = this.nodeAt(key, rec.parentKey, at.bp.data, at.off);
    } finally {
      this.bio.brelse(at.bp);
    }
    if (node.isDir) {
      // A start cluster out of range, or an index not in memory: vget() decides.
      const clu = node.f!.cluster;
      const ix = this.fat.validCluster(clu) ? this.pinDirNow(clu) : undefined;
      if (ix === undefined) return undefined;
      node.ix = ix;
    }
    return node;
  }

  /** The record of a key still naming an entry (ESTALE for an unknown key, ENOENT for a removed one). */
  private liveKey(key: VnodeKey): KeyRec {
    const rec = this.keys.get(key);
    if (rec === undefined) throw kerr('ESTALE');
    if (rec.detached) throw kerr('ENOENT');
    return rec;
  }

  /** A node from the short entry at `off` of `d` (ESTALE when the slot no longer holds a file). */
  private nodeAt(key: VnodeKey, parentKey: VnodeKey, d: Uint8Array, off: number): FatNode {
    const first = d[off]!;
    const attr = d[off + 11]!;
    if (first === SLOT_END || first === SLOT_FREE || (attr & ATTR_LONG_NAME_MASK) === ATTR_LONG_NAME || attr & ATTR_VOLUME_ID) {
      throw kerr('ESTALE');
    }
    const lo = get16(d, off + DIRENT.fstClusLO.off);
    const fields: EntryFields = {
      attr, ntRes: d[off + DIRENT.ntRes.off]!, crtTimeTenth: d[off + DIRENT.crtTimeTenth.off]!,
      crtTime: get16(d, off + DIRENT.crtTime.off), crtDate: get16(d, off + DIRENT.crtDate.off),
      lstAccDate: get16(d, off + DIRENT.lstAccDate.off), wrtTime: get16(d, off + DIRENT.wrtTime.off),
      wrtDate: get16(d, off + DIRENT.wrtDate.off),
      cluster: this.geo.type === 32 ? ((get16(d, off + DIRENT.fstClusHI.off) << 16) | lo) >>> 0 : lo,
      size: get32(d, off + DIRENT.fileSize.off),
    };
    return new FatNode(this, key, fields, parentKey);
  }

  async statvfs(): Promise<StatVfs> {
    const free = await this.fat.countFree();
    return {
      bsize: this.csize, frsize: this.csize, blocks: this.geo.clusterCount, bfree: free, bavail: free,
      files: 0, ffree: 0, favail: 0, fsid: this.geo.volumeId, namemax: 255,
    };
  }

  async sync(): Promise<void> {
    if (this.readonly) return;
    // Data first, so that no FAT or directory entry on disk points at clusters still holding old bytes.
    await this.flushStage();
    await this.waitInflight();
    await this.fat.flush();
    await this.bio.flush();
    await this.writeFsInfo();
    await this.dev.flush();
  }

  async unmount(): Promise<void> {
    if (this.readonly) return;
    await this.sync();
    await this.setDirty(false);
  }

  validName(name: string): void {
    checkLongName(name);
  }

  // ---- keys ----

  keyFor(dirClu: number, idx: number, parentKey: VnodeKey): VnodeKey {
    let dir = this.locKeys.get(dirClu);
    if (dir === undefined) {
      dir = new Map();
      this.locKeys.set(dirClu, dir);
    }
    let k = dir.get(idx);
    if (k === undefined) {
      k = this.nextKey++;
      this.keys.set(k, { dirClu, idx, parentKey, detached: false });
      dir.set(idx, k);
    }
    return k;
  }

  private unmapLoc(dirClu: number, idx: number): void {
    const dir = this.locKeys.get(dirClu);
    if (dir === undefined) return;
    dir.delete(idx);
    if (dir.size === 0) this.locKeys.delete(dirClu);
  }

  keyRec(key: VnodeKey): KeyRec | undefined {
    return this.keys.get(key);
  }

  /** The entry at a location was removed: a key naming it no longer finds it. */
  private detachLoc(dirClu: number, idx: number): void {
    const k = this.locKeys.get(dirClu)?.get(idx);
    if (k === undefined) return;
    this.unmapLoc(dirClu, idx);
    const rec = this.keys.get(k);
    if (rec) rec.detached = true;
  }

  private moveKey(key: VnodeKey, dirClu: number, idx: number, parentKey: VnodeKey): void {
    const rec = this.keys.get(key);
    if (rec === undefined) return;
    if (this.locKeys.get(rec.dirClu)?.get(rec.idx) === key) this.unmapLoc(rec.dirClu, rec.idx);
    rec.dirClu = dirClu;
    rec.idx = idx;
    rec.parentKey = parentKey;
    rec.detached = false;
    let dir = this.locKeys.get(dirClu);
    if (dir === undefined) {
      dir = new Map();
      this.locKeys.set(dirClu, dir);
    }
    dir.set(idx, key);
  }

  /** The vnode left the cache: a detached key can go. */
  forgetKey(key: VnodeKey): void {
    const rec = this.keys.get(key);
    if (rec?.detached) this.keys.delete(key);
  }

  // ---- directories ----

  /** The cluster chain of the directory starting at `clu` (cached). */
  async dirChain(clu: number): Promise<number[]> {
    let ch = this.dirChains.get(clu);
    if (ch === undefined) {
      const maxLen = Math.max(1, Math.min(this.geo.clusterCount, Math.floor(MAX_DIR_BYTES / this.csize)));
      ch = await this.fat.chain(clu, maxLen, `directory at cluster ${clu}`);
      this.dirChains.set(clu, ch);
    }
    return ch;
  }

  dirChainCached(clu: number): readonly number[] | undefined {
    return this.dirChains.get(clu);
  }

  /** Makes cluster `c` a fresh directory: zeroed, with '.' and '..' (parent 0 = the root). */
  async initDir(c: number, parent: number, f: EntryFields): Promise<void> {
    await this.unstage(this.clusterOffset(c), this.csize);
    const bp = await this.bio.getblk(this.clusterOffset(c), this.csize);
    bp.data.fill(0);
    dotEntries(bp.data, c, parent, f, (d, off, fl) => this.encodeEntry(d, off, fl));
    this.bio.bdwrite(bp);
    this.dirChains.set(c, [c]);
  }

  /** Points the '..' entry of the directory at `dirClu` to `parent` (after a move). */
  async setDotDot(dirClu: number, parent: number): Promise<void> {
    const { bp, off } = await this.entryBlock(dirClu, 1);
    if (bp.data[off] !== 0x2e || bp.data[off + 1] !== 0x2e) {
      this.bio.brelse(bp);
      throw kerr('EIO', `msdosfs: directory at cluster ${dirClu}: second entry is not '..'`);
    }
    encode(DIRENT, bp.data, off, { fstClusHI: this.geo.type === 32 ? parent >>> 16 : 0, fstClusLO: parent & 0xffff });
    this.bio.bdwrite(bp);
  }

  async dirCapacity(dirClu: number): Promise<number> {
    if (dirClu === 0) return this.geo.rootEntries;
    return ((await this.dirChain(dirClu)).length * this.csize) / DIRENT_SIZE;
  }

  /**
   * entryBlock() when the directory's chain and the block are in memory (the common case: the entry was
   * just found by a lookup or a readdir), without a suspension; undefined otherwise.
   */
  entryBlockCached(dirClu: number, idx: number): { bp: Buf; off: number } | undefined {
    const byte = idx * DIRENT_SIZE;
    if (dirClu === 0) {
      if (idx < 0 || byte >= this.geo.rootBytes) return undefined;
      const base = Math.floor(byte / this.rootChunk) * this.rootChunk;
      const bp = this.bio.peek(this.geo.rootOffset + base, this.rootChunk);
      return bp === undefined ? undefined : { bp, off: byte - base };
    }
    const chain = this.dirChains.get(dirClu);
    const ci = Math.floor(byte / this.csize);
    if (chain === undefined || idx < 0 || ci >= chain.length) return undefined;
    const bp = this.bio.peek(this.clusterOffset(chain[ci]!), this.csize);
    return bp === undefined ? undefined : { bp, off: byte % this.csize };
  }

  /** The held buffer holding entry `idx` of a directory, and the entry's offset in it. */
  async entryBlock(dirClu: number, idx: number): Promise<{ bp: Buf; off: number }> {
    const byte = idx * DIRENT_SIZE;
    if (dirClu === 0) {
      if (idx < 0 || byte >= this.geo.rootBytes) throw kerr('EIO', `msdosfs: root directory entry ${idx} beyond the root directory`);
      const base = Math.floor(byte / this.rootChunk) * this.rootChunk;
      const bp = await this.bio.bread(this.geo.rootOffset + base, this.rootChunk);
      return { bp, off: byte - base };
    }
    const chain = await this.dirChain(dirClu);
    const ci = Math.floor(byte / this.csize);
    if (ci >= chain.length) throw kerr('EIO', `msdosfs: directory at cluster ${dirClu}: entry ${idx} beyond its ${chain.length} clusters`);
    const bp = await this.bio.bread(this.clusterOffset(chain[ci]!), this.csize);
    return { bp, off: byte % this.csize };
  }

  /**
   * Scans a directory from entry `from`, calling `fn` for each entry with a name (long-name sequences
   * assembled and checked against their checksum; '.', '..' and the volume label skipped, the label
   * reported through `onLabel`). Stops at the end mark, at the capacity, or when `fn` returns false.
   * `onUsed` sees every slot in use.
   */
  async scanDir(
    dirClu: number,
    from: number,
    fn: (s: Slot) => boolean,
    onUsed?: (idx: number) => void,
    onLabel?: (label: string) => void,
  ): Promise<number> {
    const cap = await this.dirCapacity(dirClu);
    // The UTF-16 units of the long name being read, slot by slot (at most 20 slots of 13).
    const units = new Uint16Array(20 * LFN_CHARS);
    let unitsLen = 0;
    let expect = 0;
    let sum = -1;
    let lfnFirst = -1;
    let idx = from;
    while (idx < cap) {
      const { bp, off } = this.entryBlockCached(dirClu, idx) ?? (await this.entryBlock(dirClu, idx));
      const d = bp.data;
      try {
        for (let o = off; o < d.length && idx < cap; o += DIRENT_SIZE, idx++) {
          const b0 = d[o]!;
          if (b0 === SLOT_END) return idx;
          if (b0 === SLOT_FREE) {
            expect = 0;
            continue;
          }
          onUsed?.(idx);
          const attr = d[o + 11]!;
          if ((attr & ATTR_LONG_NAME_MASK) === ATTR_LONG_NAME) {
            const ord = b0 & 0x3f;
            if (b0 & LFN_LAST) {
              if (ord < 1 || ord > 20) {
                expect = 0;
                continue;
              }
              unitsLen = ord * LFN_CHARS;
              expect = ord;
              sum = d[o + 13]!;
              lfnFirst = idx;
            } else if (expect === 0 || ord !== expect || d[o + 13] !== sum) {
              expect = 0;
              continue;
            }
            for (let j = 0, u = (ord - 1) * LFN_CHARS; j < LFN_CHARS; j++, u++) units[u] = d[o + LFN_CHAR_OFFS[j]!]! | (d[o + LFN_CHAR_OFFS[j]! + 1]! << 8);
            expect = ord - 1 === 0 ? -1 : ord - 1; // -1: complete, waiting for the short entry
            continue;
          }
          const raw = d.subarray(o, o + 11);
          let long: string | null = null;
          if (expect === -1 && shortNameChecksum(raw) === sum) {
            // Up to the first NUL; a name holding '/' is not taken (its short name stands).
            let n = 0;
            let slash = false;
            for (; n < unitsLen && units[n] !== 0; n++) if (units[n] === 0x2f) slash = true;
            if (n > 0 && !slash) long = String.fromCharCode.apply(null, units.subarray(0, n) as unknown as number[]);
          }
          const first = long !== null ? lfnFirst : idx;
          expect = 0;
          if (attr & ATTR_VOLUME_ID) {
            if (onLabel && !(attr & ATTR_DIRECTORY)) onLabel(decodeShortName(raw, 0).replace('.', '').trimEnd());
            continue;
          }
          if (raw[0] === 0x2e && (raw[1] === 0x20 || (raw[1] === 0x2e && raw[2] === 0x20))) continue;
          const nt = d[o + 12]!;
          let name = long;
          let plain = false;
          if (name === null) {
            const dec = decodeShortName(raw, nt);
            name = dec.replace(/[\0/]/g, '_');
            plain = nt === 0 && name === dec;
          }
          const slot: Slot = { name, short: latin11(raw), idx, first, attr };
          // A short name shown as stored is its own short key: spare indexAdd the second fold.
          if (plain) slot.fold = slot.sfold = foldName(name);
          if (!fn(slot)) return idx + 1;
        }
      } finally {
        this.bio.brelse(bp);
      }
    }
    return idx;
  }

  /** The index of a directory when it is in memory (pinned, or in the LRU, where it becomes the newest). */
  dirIndexCached(dirClu: number): DirIndex | undefined {
    const pinned = this.pinned.get(dirClu);
    if (pinned !== undefined) return pinned.ix;
    const ix = this.dirIndexes.get(dirClu);
    if (ix !== undefined) {
      this.dirIndexes.delete(dirClu);
      this.dirIndexes.set(dirClu, ix);
    }
    return ix;
  }

  /** The index of a directory (built by one scan, then kept up to date). */
  async dirIndex(dirClu: number): Promise<DirIndex> {
    let ix = this.dirIndexCached(dirClu);
    if (ix !== undefined) return ix;
    ix = new DirIndex(await this.dirCapacity(dirClu));
    const built = ix;
    await this.scanDir(
      dirClu,
      0,
      (s) => {
        this.indexAdd(built, s);
        built.ordered!.push(s);
        return true;
      },
      (i) => {
        built.used[i] = 1;
      },
    );
    while (built.firstFree < built.used.length && built.used[built.firstFree]) built.firstFree++;
    if (this.dirIndexes.size >= DIR_INDEX_CACHE) {
      const oldest = this.dirIndexes.keys().next().value as number;
      this.dirIndexes.delete(oldest);
    }
    this.dirIndexes.set(dirClu, built);
    return built;
  }

  private indexAdd(ix: DirIndex, s: Slot): void {
    const f = (s.fold ??= foldName(s.name));
    if (!ix.byName.has(f)) ix.byName.set(f, s);
    ix.shorts.add(s.short);
    if (s.attr & ATTR_DIRECTORY) ix.subdirs++;
    const sf = this.shortFold(s);
    if (sf !== f && !ix.byName.has(sf)) ix.byName.set(sf, s);
    ix.count++;
  }

  private shortFold(s: Slot): string {
    if (s.sfold !== undefined) return s.sfold;
    const raw = new Uint8Array(11);
    for (let i = 0; i < 11; i++) raw[i] = s.short.charCodeAt(i);
    s.sfold = foldName(decodeShortName(raw, 0));
    return s.sfold;
  }

  private indexRemove(ix: DirIndex, s: Slot): void {
    ix.exact.clear();
    ix.ordered = null;
    for (const k of [(s.fold ??= foldName(s.name)), this.shortFold(s)]) if (ix.byName.get(k) === s) ix.byName.delete(k);
    ix.shorts.delete(s.short);
    for (let i = s.first; i <= s.idx; i++) ix.used[i] = 0;
    if (s.first < ix.firstFree) ix.firstFree = s.first;
    ix.count--;
    if (s.attr & ATTR_DIRECTORY) ix.subdirs--;
  }

  /** Looks a name up: the slot, or undefined. */
  async lookupSlot(dirClu: number, name: string): Promise<Slot | undefined> {
    return this.findSlot(this.dirIndexCached(dirClu) ?? (await this.dirIndex(dirClu)), name);
  }

  /** Looks a name up in a directory's index: the slot, or undefined. */
  findSlot(ix: DirIndex, name: string): Slot | undefined {
    const hit = ix.exact.get(name);
    if (hit !== undefined) return hit;
    const s = ix.byName.get(foldName(name));
    if (s !== undefined) {
      // Spellings differing only in case are many: bound what they can make this map hold.
      if (ix.exact.size >= 2 * ix.count + 16) ix.exact.clear();
      ix.exact.set(name, s);
    }
    return s;
  }

  /** Grows a directory by one cluster (zeroed), or ENOSPC for the fixed root or at the 65536-entry limit. */
  private async growDir(dirClu: number, ix: DirIndex): Promise<void> {
    if (dirClu === 0) throw kerr('ENOSPC', 'msdosfs: the FAT12/16 root directory is full');
    const chain = await this.dirChain(dirClu);
    if ((chain.length + 1) * this.csize > MAX_DIR_BYTES) throw kerr('ENOSPC', 'msdosfs: directory has reached 65536 entries');
    const last = chain[chain.length - 1]!;
    const c = await this.fat.allocDir();
    await this.zeroCluster(c);
    await this.fat.set(last, c);
    chain.push(c);
    const used = new Uint8Array((chain.length * this.csize) / DIRENT_SIZE);
    used.set(ix.used);
    ix.used = used;
  }

  async zeroCluster(c: number): Promise<Buf> {
    await this.unstage(this.clusterOffset(c), this.csize);
    const bp = await this.bio.getblk(this.clusterOffset(c), this.csize);
    bp.data.fill(0);
    this.bio.bdwrite(bp);
    return bp;
  }

  /** The first of `n` free slots in a row, or -1 when the directory must grow first. */
  private freeRun(ix: DirIndex, n: number): number {
    let run = 0;
    for (let i = ix.firstFree; i < ix.used.length; i++) {
      if (ix.used[i]) run = 0;
      else if (++run === n) return i - n + 1;
    }
    return -1;
  }

  /** Chooses the short name for a new entry and whether a long name is needed. */
  private chooseShortName(ix: DirIndex, name: string): ShortChoice {
    const exact = exactShortName(name);
    if (exact) {
      const s = latin11(exact.raw);
      // An all-lower-case base or extension is kept in the NT case flags, as Windows NT does, sparing a long-name slot.
      if (!ix.shorts.has(s)) return { raw: exact.raw, ntRes: exact.ntRes, lfn: false };
    }
    const basis = shortNameBasis(name);
    const bkey = String.fromCharCode(...basis.base, 0x2e, ...basis.ext);
    for (let n = ix.tails.get(bkey) ?? 1; n < 1000000; n++) {
      const raw = shortNameWithTail(basis, n);
      if (!ix.shorts.has(latin11(raw))) {
        ix.tails.set(bkey, n + 1);
        return { raw, ntRes: 0, lfn: true };
      }
    }
    throw kerr('ENOSPC', 'msdosfs: no free short name');
  }

  /**
   * Adds a directory entry named `name` with the given fields; returns the short entry's index. Without
   * waiting when the directory's index and the blocks of the new slots are in memory (the usual case).
   */
  addEntry(dirClu: number, name: string, f: EntryFields): Awaitable<number> {
    checkLongName(name);
    const ix = this.dirIndexCached(dirClu);
    if (ix === undefined) return this.dirIndex(dirClu).then((ix) => this.addEntryIn(dirClu, ix, name, f));
    return this.addEntryIn(dirClu, ix, name, f);
  }

  private addEntryIn(dirClu: number, ix: DirIndex, name: string, f: EntryFields): Awaitable<number> {
    const sn = this.chooseShortName(ix, name);
    const nlfn = sn.lfn ? Math.ceil(name.length / LFN_CHARS) : 0;
    const first = this.freeRun(ix, nlfn + 1);
    if (first >= 0) {
      // Index 0 is a valid answer (the first slot of a root directory).
      const idx = this.putEntryNow(dirClu, ix, name, f, sn, nlfn, first);
      if (idx !== undefined) return idx;
    }
    return this.addEntryWaiting(dirClu, ix, name, f, sn, nlfn, first);
  }

  /** addEntryIn() when the directory must grow or a block of the slots is not in memory. */
  private async addEntryWaiting(dirClu: number, ix: DirIndex, name: string, f: EntryFields, sn: ShortChoice, nlfn: number, first: number): Promise<number> {
    for (let guard = 0; first < 0; guard++) {
      if (guard === 64) throw kerr('ENOSPC', 'msdosfs: no room in directory');
      await this.growDir(dirClu, ix);
      first = this.freeRun(ix, nlfn + 1);
    }
    // The blocks of the slots (two or more when clusters are small), held in memory while putEntryNow() writes them.
    const held: Buf[] = [];
    try {
      for (let i = first; i <= first + nlfn; i++) held.push((await this.entryBlock(dirClu, i)).bp);
      const idx = this.putEntryNow(dirClu, ix, name, f, sn, nlfn, first);
      if (idx === undefined) throw kerr('EIO', `msdosfs: directory at cluster ${dirClu}: entry blocks not held`);
      return idx;
    } finally {
      for (const bp of held) this.bio.brelse(bp);
    }
  }

  /**
   * Writes the new entry's slots [first, first + nlfn] and indexes it: its short entry's index, or
   * undefined, with nothing changed, when a block of the slots is not in memory.
   */
  private putEntryNow(dirClu: number, ix: DirIndex, name: string, f: EntryFields, sn: ShortChoice, nlfn: number, first: number): number | undefined {
    const idx = first + nlfn;
    // Every slot's block first (a long name can span three blocks of a 512-byte cluster): nothing is written unless all are here.
    const at: { bp: Buf; off: number }[] = [];
    for (let i = first; i <= idx; i++) {
      const b = this.entryBlockCached(dirClu, i);
      if (b === undefined) {
        for (const h of at) this.bio.brelse(h.bp);
        return undefined;
      }
      at.push(b);
    }
    const sum = shortNameChecksum(sn.raw);
    for (let k = 0; k < nlfn; k++) {
      const ord = nlfn - k;
      const { bp, off } = at[k]!;
      const d = bp.data;
      // Type and first cluster stay zero.
      d.fill(0, off, off + DIRENT_SIZE);
      d[off + LFNENT.ord.off] = ord | (k === 0 ? LFN_LAST : 0);
      d[off + LFNENT.attr.off] = ATTR_LONG_NAME;
      d[off + LFNENT.chksum.off] = sum;
      for (let j = 0; j < LFN_CHARS; j++) {
        const p = (ord - 1) * LFN_CHARS + j;
        const unit = p < name.length ? name.charCodeAt(p) : p === name.length ? 0 : 0xffff;
        d[off + LFN_CHAR_OFFS[j]!] = unit & 0xff;
        d[off + LFN_CHAR_OFFS[j]! + 1] = unit >> 8;
      }
      this.bio.bdwrite(bp);
    }
    const { bp, off } = at[nlfn]!;
    const d = bp.data;
    d.fill(0, off, off + DIRENT_SIZE);
    this.encodeEntry(d, off, f);
    d.set(sn.raw, off);
    d[off + 12] = sn.ntRes;
    this.bio.bdwrite(bp);
    for (let i = first; i <= idx; i++) ix.used[i] = 1;
    while (ix.firstFree < ix.used.length && ix.used[ix.firstFree]) ix.firstFree++;
    const slot: Slot = { name, short: latin11(sn.raw), idx, first, attr: f.attr };
    ix.exact.clear();
    ix.ordered = null;
    this.indexAdd(ix, slot);
    // The name itself must win over an older short alias that folds the same.
    ix.byName.set(slot.fold!, slot);
    return idx;
  }

  /** Stores the fields of a short entry (all but the name), at the offsets of format.ts's DIRENT table. */
  encodeEntry(d: Uint8Array, off: number, f: EntryFields): void {
    d[off + DIRENT.attr.off] = f.attr;
    d[off + DIRENT.ntRes.off] = f.ntRes;
    d[off + DIRENT.crtTimeTenth.off] = f.crtTimeTenth;
    put16(d, off + DIRENT.crtTime.off, f.crtTime);
    put16(d, off + DIRENT.crtDate.off, f.crtDate);
    put16(d, off + DIRENT.lstAccDate.off, f.lstAccDate);
    put16(d, off + DIRENT.fstClusHI.off, this.geo.type === 32 ? f.cluster >>> 16 : 0);
    put16(d, off + DIRENT.wrtTime.off, f.wrtTime);
    put16(d, off + DIRENT.wrtDate.off, f.wrtDate);
    put16(d, off + DIRENT.fstClusLO.off, f.cluster & 0xffff);
    put32(d, off + DIRENT.fileSize.off, f.attr & ATTR_DIRECTORY ? 0 : f.size);
  }

  /** Writes a node's fields into its entry (a delayed write through the buffer cache; at once when the block is in memory). */
  writeEntry(dirClu: number, idx: number, f: EntryFields): void | Promise<void> {
    const at = this.entryBlockCached(dirClu, idx);
    if (at !== undefined) return this.putEntry(dirClu, idx, at.bp, at.off, f);
    return this.entryBlock(dirClu, idx).then(({ bp, off }) => this.putEntry(dirClu, idx, bp, off, f));
  }

  private putEntry(dirClu: number, idx: number, bp: Buf, off: number, f: EntryFields): void {
    const first = bp.data[off]!;
    if (first === SLOT_END || first === SLOT_FREE) {
      this.bio.brelse(bp);
      throw kerr('EIO', `msdosfs: directory at cluster ${dirClu}: entry ${idx} vanished`);
    }
    this.encodeEntry(bp.data, off, f);
    this.bio.bdwrite(bp);
  }

  /** Removes the entry `s` (its long-name slots too) and detaches its key. */
  async removeEntry(dirClu: number, s: Slot): Promise<void> {
    const ix = await this.dirIndex(dirClu);
    for (let i = s.first; i <= s.idx; i++) {
      const { bp, off } = this.entryBlockCached(dirClu, i) ?? (await this.entryBlock(dirClu, i));
      bp.data[off] = SLOT_FREE;
      this.bio.bdwrite(bp);
    }
    this.indexRemove(ix, s);
    this.detachLoc(dirClu, s.idx);
    await this.maybeShrinkDir(dirClu, ix);
  }

  /** Frees whole clusters at the end of a directory that hold no entries (the first cluster stays). */
  private async maybeShrinkDir(dirClu: number, ix: DirIndex): Promise<void> {
    if (dirClu === 0) return;
    const chain = await this.dirChain(dirClu);
    const per = this.csize / DIRENT_SIZE;
    let last = ix.used.length - 1;
    while (last >= 0 && !ix.used[last]) last--;
    const need = Math.max(1, Math.ceil((last + 1) / per));
    if (need >= chain.length) return;
    // Entries after the last used one in the kept clusters become end marks (all following are free).
    for (let i = last + 1; i < need * per; i++) {
      const { bp, off } = this.entryBlockCached(dirClu, i) ?? (await this.entryBlock(dirClu, i));
      bp.data.fill(0, off, off + DIRENT_SIZE);
      this.bio.bdwrite(bp);
    }
    const gone = chain.splice(need);
    await this.fat.set(chain[need - 1]!, EOC);
    for (const c of gone) await this.bio.invalidateRange(this.clusterOffset(c), this.csize);
    await this.fat.free(gone);
    ix.used = ix.used.slice(0, need * per);
    if (ix.firstFree > ix.used.length) ix.firstFree = ix.used.length;
  }

  /** A directory vnode exists: keep its index (and so its subdirectory count) in memory. */
  async pinDir(clu: number): Promise<DirIndex> {
    const now = this.pinDirNow(clu);
    if (now !== undefined) return now;
    const ix = await this.dirIndex(clu);
    // Pinned meanwhile, or still in the LRU: as pinDirNow does.
    const again = this.pinDirNow(clu);
    if (again !== undefined) return again;
    this.pinned.set(clu, { ix, refs: 1 });
    return ix;
  }

  /** pinDir() when the index is in memory; undefined otherwise. */
  pinDirNow(clu: number): DirIndex | undefined {
    const p = this.pinned.get(clu);
    if (p) {
      p.refs++;
      return p.ix;
    }
    const ix = this.dirIndexes.get(clu);
    if (ix === undefined) return undefined;
    this.pinned.set(clu, { ix, refs: 1 });
    this.dirIndexes.delete(clu);
    return ix;
  }

  unpinDir(clu: number): void {
    const p = this.pinned.get(clu);
    if (p && --p.refs <= 0) {
      this.pinned.delete(clu);
      this.dirIndexes.set(clu, p.ix);
    }
  }

  /** A directory was removed: drop what is cached about it. */
  async forgetDir(clu: number): Promise<void> {
    this.pinned.delete(clu);
    const chain = this.dirChains.get(clu);
    if (chain) for (const c of chain) await this.bio.invalidateRange(this.clusterOffset(c), this.csize);
    this.dirChains.delete(clu);
    this.dirIndexes.delete(clu);
  }

  /** Moves an entry to (toDirClu, toName), keeping its key; returns the new index. */
  async moveEntry(fromDirClu: number, s: Slot, toDirClu: number, toName: string, f: EntryFields, key: VnodeKey, toParentKey: VnodeKey): Promise<void> {
    const idx = await this.addEntry(toDirClu, toName, f);
    // The source slots may have moved only if they were the same; they were not (addEntry took free ones).
    const fix = await this.dirIndex(fromDirClu);
    for (let i = s.first; i <= s.idx; i++) {
      const { bp, off } = this.entryBlockCached(fromDirClu, i) ?? (await this.entryBlock(fromDirClu, i));
      bp.data[off] = SLOT_FREE;
      this.bio.bdwrite(bp);
    }
    this.indexRemove(fix, s);
    this.moveKey(key, toDirClu, idx, toParentKey);
    await this.maybeShrinkDir(fromDirClu, fix);
  }

  // ---- data ----

  /** Reads file data: the device's bytes with any staged ones laid over them. */
  dataRead(buf: Uint8Array, off: number): Promise<void> {
    // Nothing staged (the usual case when only reading): the device's bytes are the data.
    if (this.stageEnd <= this.stageStart && this.inflight.length === 0) return this.devRead(buf, off);
    return this.dataReadStaged(buf, off);
  }

  private async dataReadStaged(buf: Uint8Array, off: number): Promise<void> {
    await this.devRead(buf, off);
    // The stage being written, then the newer one filling.
    for (const w of this.inflight) overlay(buf, off, w.buf, w.start, w.end);
    if (this.stageBuf !== null) overlay(buf, off, this.stageBuf, this.stageStart, this.stageEnd);
  }

  /**
   * Writes file data at device offset `off` through the stage. `keepTail`: the bytes after the data up to
   * the end of its last sector belong to the file and must be kept; otherwise they lie past the file's
   * end, where FAT keeps nothing, and the stage pads them with zeros instead of reading them.
   * Data that cannot join the stage (a partial sector whose other bytes are neither in the stage nor
   * free to overwrite, or more than the stage holds) goes to the device after the stage.
   */
  private async stageWrite(piece: Uint8Array, off: number, keepTail: boolean): Promise<void> {
    if (this.stageJoin(piece, off, keepTail)) return;
    await this.flushStage();
    if (this.stageJoin(piece, off, keepTail)) return;
    // The read-modify-write of partial sectors must see every earlier write on the device.
    await this.waitInflight();
    await this.devWrite(piece, off);
  }

  /**
   * The part of stageWrite() that needs no wait: the data joins the stage (true), or false when it cannot
   * (the stage must be written first, or the data cannot be staged at all).
   */
  private stageJoin(piece: Uint8Array, off: number, keepTail: boolean): boolean {
    const ss = this.geo.bytesPerSector;
    const end = off + piece.length;
    const a = off - (off % ss);
    const b = Math.ceil(end / ss) * ss;
    if (this.stageEnd <= this.stageStart) {
      // An empty stage starts here when the data begins a sector and its last sector is whole or free to pad.
      if (off !== a || (end !== b && keepTail) || b - a > STAGE_MAX) return false;
      this.stageStart = this.stageEnd = a;
      this.stageCopy(piece, off, end, b, keepTail);
      return true;
    }
    if (a < this.stageStart || a > Math.max(this.stageEnd, this.stageSlack) || b - this.stageStart > STAGE_MAX) return false;
    // Joining the stage: a partial first or last sector must already be in it (or, at the end, not matter).
    const headOk = off === a || a < this.stageEnd;
    const tailOk = end === b || !keepTail || b - ss < this.stageEnd;
    if (!headOk || !tailOk) return false;
    if (a > this.stageEnd) {
      // Across the previous file's slack (past its end): zeros.
      this.stageBuf!.fill(0, this.stageEnd - this.stageStart, a - this.stageStart);
      this.stageEnd = a;
    }
    this.stageCopy(piece, off, end, b, keepTail);
    return true;
  }

  private stageCopy(piece: Uint8Array, off: number, end: number, b: number, keepTail: boolean): void {
    this.stageBuf ??= new Uint8Array(STAGE_MAX);
    const base = this.stageStart;
    this.stageBuf.set(piece, off - base);
    if (b >= this.stageEnd) {
      // The data now ends the stage; a write ending at or past the file's end leaves the rest of its
      // cluster free to overwrite.
      const rel = end - this.geo.dataOffset;
      this.stageSlack = keepTail ? b : this.geo.dataOffset + Math.ceil(rel / this.csize) * this.csize;
    }
    // Bytes of the last sector past the data that the stage did not hold yet: zeros, not stale memory.
    if (b > this.stageEnd) this.stageBuf.fill(0, Math.max(end, this.stageEnd) - base, b - base);
    if (b > this.stageEnd) this.stageEnd = b;
  }

  /** Starts writing the staged data (after the previous stage's write has finished); a new stage begins empty. */
  async flushStage(): Promise<void> {
    if (this.stageEnd <= this.stageStart) return;
    const start = this.stageStart;
    const end = this.stageEnd;
    // Writes of the same bytes must reach the device in order: wait for any overlapping one (and for the oldest when the queue is full).
    if (this.inflight.some((w) => w.start < end && start < w.end)) await this.waitInflight();
    else if (this.inflight.length >= INFLIGHT_MAX) await this.waitInflight(INFLIGHT_MAX - 1);
    const buf = this.stageBuf!;
    const done = this.dev.write(buf.subarray(0, end - start), start);
    // Handled by waitInflight(); this only keeps a failure from counting as unhandled in the meantime.
    done.catch(() => {});
    this.inflight.push({ buf, start, end, done, failed: false });
    this.stageBuf = this.spareBufs.pop() ?? null;
    this.stageStart = this.stageEnd = this.stageSlack = 0;
  }

  /**
   * Waits, oldest first, until at most `keep` stages are being written. A failed write stays in flight and is tried again by the next
   * wait, so sync reports it and no data is silently dropped.
   */
  private async waitInflight(keep = 0): Promise<void> {
    while (this.inflight.length > keep) {
      const w = this.inflight[0]!;
      if (w.failed) {
        w.failed = false;
        w.done = this.dev.write(w.buf.subarray(0, w.end - w.start), w.start);
      }
      try {
        await w.done;
      } catch (e) {
        w.failed = true;
        throw e;
      }
      if (this.inflight[0] === w) {
        this.inflight.shift();
        this.spareBufs.push(w.buf);
      }
    }
  }

  /** Device bytes [off, off+len) are about to be used for metadata: staged data there goes out first. */
  private async unstage(off: number, len: number): Promise<void> {
    // The slack too: a cluster there joined later would have its bytes zeroed by the stage.
    if (off < Math.max(this.stageEnd, this.stageSlack) && off + len > this.stageStart) await this.flushStage();
    if (this.inflight.some((w) => off < w.end && off + len > w.start)) await this.waitInflight();
  }

  /** Reads `buf.length` bytes at device offset `off`, aligning to sectors with a bounce buffer where needed. */
  async devRead(buf: Uint8Array, off: number): Promise<void> {
    const ss = this.geo.bytesPerSector;
    if (off % ss === 0 && buf.length % ss === 0) return this.dev.read(buf, off);
    const start = off - (off % ss);
    const end = Math.ceil((off + buf.length) / ss) * ss;
    // The whole sectors in the middle go straight into the caller's buffer; only the partial head and
    // tail sectors pass through a bounce buffer.
    const midStart = off % ss === 0 ? off : start + ss;
    const midEnd = Math.floor((off + buf.length) / ss) * ss;
    // Small reads (most files) go whole through one bounce buffer: one device read instead of two or three.
    // Bounce buffers are reused (a free list, since reads of different files may be in progress at once):
    // a fresh buffer per file would make every small file cost an allocation as large as the file.
    const bounce = this.bounces.pop() ?? new Uint8Array(BOUNCE_BYTES);
    try {
      if (midEnd - midStart < ss || end - start <= BOUNCE_BYTES) {
        const tmp = bounce.subarray(0, end - start);
        await this.dev.read(tmp, start);
        buf.set(tmp.subarray(off - start, off - start + buf.length));
        return;
      }
      const one = bounce.subarray(0, ss);
      if (midStart !== off) {
        await this.dev.read(one, start);
        buf.set(one.subarray(off - start), 0);
      }
      await this.dev.read(buf.subarray(midStart - off, midEnd - off), midStart);
      if (midEnd < off + buf.length) {
        await this.dev.read(one, midEnd);
        buf.set(one.subarray(0, off + buf.length - midEnd), midEnd - off);
      }
    } finally {
      this.bounces.push(bounce);
    }
  }

  /** devRead() at once, for reads the device does at once (whole sectors, or through one bounce buffer): false when not. */
  private devReadNow(buf: Uint8Array, off: number): boolean {
    const dev = this.dev;
    const ss = this.geo.bytesPerSector;
    if (off % ss === 0 && buf.length % ss === 0) return dev.readNow!(buf, off);
    const start = off - (off % ss);
    const end = Math.ceil((off + buf.length) / ss) * ss;
    if (end - start > BOUNCE_BYTES) return false;
    const bounce = this.bounces.pop() ?? new Uint8Array(BOUNCE_BYTES);
    try {
      const tmp = bounce.subarray(0, end - start);
      if (!dev.readNow!(tmp, start)) return false;
      buf.set(tmp.subarray(off - start, off - start + buf.length));
      return true;
    } finally {
      this.bounces.push(bounce);
    }
  }

  /** Writes `buf` at device offset `off`, reading partial sectors first. */
  async devWrite(buf: Uint8Array, off: number): Promise<void> {
    const ss = this.geo.bytesPerSector;
    if (off % ss === 0 && buf.length % ss === 0) return this.dev.write(buf, off);
    const start = off - (off % ss);
    const end = Math.ceil((off + buf.length) / ss) * ss;
    const headLen = off - start;
    const alignedStart = headLen === 0 ? off : start + ss;
    const alignedEnd = Math.max(alignedStart, end - ((off + buf.length) % ss === 0 ? 0 : ss));
    if (end - start <= 2 * ss || alignedEnd <= alignedStart) {
      const tmp = new Uint8Array(end - start);
      await this.dev.read(tmp, start);
      tmp.set(buf, headLen);
      return this.dev.write(tmp, start);
    }
    if (headLen) {
      const h = new Uint8Array(ss);
      await this.dev.read(h, start);
      h.set(buf.subarray(0, ss - headLen), headLen);
      await this.dev.write(h, start);
    }
    await this.dev.write(buf.subarray(alignedStart - off, alignedEnd - off), alignedStart);
    if (alignedEnd < end) {
      const t = new Uint8Array(ss);
      await this.dev.read(t, alignedEnd);
      t.set(buf.subarray(alignedEnd - off), 0);
      await this.dev.write(t, alignedEnd);
    }
  }

  /**
   * Reads or writes file bytes [pos, pos+len) of a chain, in runs of contiguous clusters. For a write,
   * `fileSize` is the file's size before it: bytes at or past it need not be kept.
   */
  async chainIO(chain: readonly number[], buf: Uint8Array, pos: number, write: boolean, fileSize = 0): Promise<void> {
    for (let done = 0; done < buf.length; ) {
      const [off, len] = this.runAt(chain, pos, buf.length - done);
      const piece = buf.subarray(done, done + len);
      if (write) await this.stageWrite(piece, off, pos + len < fileSize);
      else await this.dataRead(piece, off);
      done += len;
      pos += len;
    }
  }

  /** chainIO() writing: at once while the data joins the stage, chainIO for what does not. */
  chainWrite(chain: readonly number[], buf: Uint8Array, pos: number, fileSize: number): void | Promise<void> {
    for (let done = 0; done < buf.length; ) {
      const [off, len] = this.runAt(chain, pos, buf.length - done);
      if (!this.stageJoin(buf.subarray(done, done + len), off, pos + len < fileSize)) return this.chainIO(chain, buf.subarray(done), pos, true, fileSize);
      done += len;
      pos += len;
    }
  }

  /**
   * chainIO() reading, done at once when nothing is staged and the device reads at once: true when `buf`
   * is filled, false when it could not be (chainIO then, which reads it all again).
   */
  chainReadNow(chain: readonly number[], buf: Uint8Array, pos: number): boolean {
    if (this.stageEnd > this.stageStart || this.inflight.length > 0 || this.dev.readNow === undefined) return false;
    for (let done = 0; done < buf.length; ) {
      const [off, len] = this.runAt(chain, pos, buf.length - done);
      if (!this.devReadNow(buf.subarray(done, done + len), off)) return false;
      done += len;
      pos += len;
    }
    return true;
  }

  /** Where file byte `pos` of a chain lies on the device, and how many of the next `left` bytes follow it there. */
  private runAt(chain: readonly number[], pos: number, left: number): [off: number, len: number] {
    const ci = Math.floor(pos / this.csize);
    const within = pos % this.csize;
    if (ci >= chain.length) throw kerr('EIO', `msdosfs: file offset ${pos} beyond its cluster chain`);
    let run = 1;
    while (ci + run < chain.length && chain[ci + run] === chain[ci]! + run && run * this.csize - within < left) run++;
    return [this.clusterOffset(chain[ci]!) + within, Math.min(run * this.csize - within, left)];
  }

  /** Writes zeros over file bytes [from, to) of a chain. */
  async zeroRange(chain: readonly number[], from: number, to: number): Promise<void> {
    const step = 1024 * 1024;
    const z = new Uint8Array(Math.min(step, to - from));
    for (let p = from; p < to; p += step) await this.chainIO(chain, z.subarray(0, Math.min(step, to - p)), p, true, from);
  }

  /** Fields for a new entry at time `t`. */
  newFields(attr: number, cluster: number, t: Timespec): EntryFields {
    const ft = unixToFat(t.sec, this.opts.tz);
    return {
      attr, ntRes: 0, crtTimeTenth: ft.tenth + Math.floor(t.nsec / 10_000_000), crtTime: ft.time, crtDate: ft.date,
      lstAccDate: ft.date, wrtTime: ft.time, wrtDate: ft.date, cluster, size: 0,
    };
  }
}

/** Copies the bytes of `src` (device bytes [start, end)) that fall inside `buf` (device bytes from `off`). */
function overlay(buf: Uint8Array, off: number, src: Uint8Array, start: number, end: number): void {
  const from = Math.max(off, start);
  const to = Math.min(off + buf.length, end);
  if (from < to) buf.set(src.subarray(from - start, to - start), from - off);
}

function get16(d: Uint8Array, o: number): number {
  return d[o]! | (d[o + 1]! << 8);
}

function get32(d: Uint8Array, o: number): number {
  return (d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16) | (d[o + 3]! << 24)) >>> 0;
}

function put16(d: Uint8Array, o: number, v: number): void {
  d[o] = v & 0xff;
  d[o + 1] = (v >>> 8) & 0xff;
}

function put32(d: Uint8Array, o: number, v: number): void {
  d[o] = v & 0xff;
  d[o + 1] = (v >>> 8) & 0xff;
  d[o + 2] = (v >>> 16) & 0xff;
  d[o + 3] = (v >>> 24) & 0xff;
}

/** The 11 bytes of a short name as a latin1 string (a set key). */
function latin11(r: Uint8Array): string {
  return String.fromCharCode(r[0]!, r[1]!, r[2]!, r[3]!, r[4]!, r[5]!, r[6]!, r[7]!, r[8]!, r[9]!, r[10]!);
}
