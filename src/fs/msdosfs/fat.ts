/**
 * The file allocation table of a mounted FAT volume: entries read on demand in pages, changes kept in
 * memory and written to every FAT copy at sync, cluster chains walked with validation (range, loops,
 * length against the size the caller expects), free-space accounting and cluster allocation.
 */

import type { Awaitable } from '../../kern/awaitable.js';
import { kerr } from '../../kern/error.js';
import type { BlockDevice } from '../../vfs/types.js';

/** Chain end (any end-of-chain mark), as returned by get(). */
export const EOC = -1;
/** The bad-cluster mark (fatgen103 §4: 0xFF7 / 0xFFF7 / 0x0FFFFFF7). */
export const BAD = -2;

/** Bytes of FAT32 loaded at a time. */
const FAT32_PAGE = 64 * 1024;

export interface FatGeometry {
  type: 12 | 16 | 32;
  /** Number of data clusters; valid cluster numbers are 2 .. clusterCount+1. */
  clusterCount: number;
  /** Byte offset of the first FAT. */
  fatOffset: number;
  /** Bytes per FAT copy. */
  fatBytes: number;
  numFats: number;
  /** With mirroring off (FAT32 extFlags bit 7) only this copy is read and written. */
  activeFat: number;
  mirror: boolean;
  sectorSize: number;
}

export class Fat {
  /** Bytes of the FAT that hold entries for the clusters that exist (the rest of the FAT is unused). */
  private readonly usedBytes: number;
  private readonly pageSize: number;
  private readonly pages = new Map<number, Uint8Array>();
  private readonly loading = new Map<number, Promise<Uint8Array>>();
  private readonly dirtyPages = new Set<number>();
  /** Free clusters, once counted (never taken from FSInfo without counting). */
  freeCount: number | undefined;
  /** Where the next allocation of file data starts looking (upwards). */
  nextFree = 2;
  /** Where the next allocation of a directory cluster starts looking (downwards; see allocDir). */
  dirNext = 0;
  readonly maxCluster: number;

  constructor(
    private readonly dev: BlockDevice,
    readonly geo: FatGeometry,
  ) {
    this.maxCluster = geo.clusterCount + 1;
    const entries = geo.clusterCount + 2;
    const raw = geo.type === 12 ? Math.ceil((entries * 3) / 2) : entries * (geo.type / 8);
    this.usedBytes = Math.min(geo.fatBytes, Math.ceil(raw / geo.sectorSize) * geo.sectorSize);
    // FAT12 entries straddle sectors and FAT16 is at most 128 KiB: one page; FAT32 in 64 KiB pages.
    this.pageSize = geo.type === 32 ? FAT32_PAGE : this.usedBytes;
  }

  get dirty(): boolean {
    return this.dirtyPages.size > 0;
  }

  private async page(n: number): Promise<Uint8Array> {
    const p = this.pages.get(n);
    if (p !== undefined) return p;
    let pending = this.loading.get(n);
    if (pending === undefined) {
      pending = (async () => {
        const start = n * this.pageSize;
        const len = Math.min(this.pageSize, this.usedBytes - start);
        const buf = new Uint8Array(len);
        await this.dev.read(buf, this.geo.fatOffset + this.geo.activeFat * this.geo.fatBytes + start);
        this.pages.set(n, buf);
        return buf;
      })();
      this.loading.set(n, pending);
      pending.then(() => this.loading.delete(n), () => this.loading.delete(n));
    }
    return pending;
  }

  /** The raw entry of cluster `c` when its page is in memory, else undefined (the fast path of scans). */
  private rawSync(c: number): number | undefined {
    if (this.geo.type === 12) {
      const pg = this.pages.get(0);
      if (pg === undefined) return undefined;
      const off = c + (c >> 1);
      const v = pg[off]! | (pg[off + 1]! << 8);
      return c & 1 ? v >> 4 : v & 0xfff;
    }
    const width = this.geo.type / 8;
    const byte = c * width;
    const pg = this.pages.get(Math.floor(byte / this.pageSize));
    if (pg === undefined) return undefined;
    const o = byte % this.pageSize;
    if (width === 2) return pg[o]! | (pg[o + 1]! << 8);
    return (pg[o]! | (pg[o + 1]! << 8) | (pg[o + 2]! << 16) | (pg[o + 3]! << 24)) & 0x0fffffff;
  }

  /** The raw entry of cluster `c` (0..maxCluster), FAT32 high bits masked off. */
  async getRaw(c: number): Promise<number> {
    const v = this.rawSync(c);
    if (v !== undefined) return v;
    if (this.geo.type === 12) {
      const pg = await this.page(0);
      const off = c + (c >> 1);
      const v = pg[off]! | (pg[off + 1]! << 8);
      return c & 1 ? v >> 4 : v & 0xfff;
    }
    const width = this.geo.type / 8;
    const byte = c * width;
    const pg = await this.page(Math.floor(byte / this.pageSize));
    const o = byte % this.pageSize;
    if (width === 2) return pg[o]! | (pg[o + 1]! << 8);
    return (pg[o]! | (pg[o + 1]! << 8) | (pg[o + 2]! << 16) | (pg[o + 3]! << 24)) & 0x0fffffff;
  }

  /** The entry of cluster `c` with end and bad marks normalised to EOC and BAD. */
  async get(c: number): Promise<number> {
    return this.norm(this.rawSync(c) ?? (await this.getRaw(c)));
  }

  private norm(v: number): number {
    const t = this.geo.type;
    const eocMin = t === 12 ? 0xff8 : t === 16 ? 0xfff8 : 0x0ffffff8;
    if (v >= eocMin) return EOC;
    if (v === eocMin - 1) return BAD;
    return v;
  }

  /** Sets the entry of cluster `c` (EOC for an end mark); FAT32's reserved high four bits are kept. */
  async set(c: number, value: number): Promise<void> {
    if (this.setNow(c, value)) return;
    await this.page(this.pageOf(c));
    this.setNow(c, value);
  }

  /** The FAT page holding cluster `c`'s entry. */
  private pageOf(c: number): number {
    return this.geo.type === 12 ? 0 : Math.floor((c * (this.geo.type / 8)) / this.pageSize);
  }

  /** set() when the entry's page is in memory (true); false, with nothing changed, when it is not. */
  setNow(c: number, value: number): boolean {
    if (c < 0 || c > this.maxCluster) throw kerr('EIO', `msdosfs: FAT write of cluster ${c} out of range`);
    const t = this.geo.type;
    const v = value === EOC ? (t === 12 ? 0xfff : t === 16 ? 0xffff : 0x0fffffff) : value;
    const n = this.pageOf(c);
    const pg = this.pages.get(n);
    if (pg === undefined) return false;
    if (t === 12) {
      const off = c + (c >> 1);
      if (c & 1) {
        pg[off] = (pg[off]! & 0x0f) | ((v & 0x0f) << 4);
        pg[off + 1] = (v >> 4) & 0xff;
      } else {
        pg[off] = v & 0xff;
        pg[off + 1] = (pg[off + 1]! & 0xf0) | ((v >> 8) & 0x0f);
      }
    } else {
      const o = (c * (t / 8)) % this.pageSize;
      pg[o] = v & 0xff;
      pg[o + 1] = (v >> 8) & 0xff;
      if (t === 32) {
        pg[o + 2] = (v >> 16) & 0xff;
        pg[o + 3] = (pg[o + 3]! & 0xf0) | ((v >> 24) & 0x0f);
      }
    }
    this.dirtyPages.add(n);
    return true;
  }

  validCluster(c: number): boolean {
    return c >= 2 && c <= this.maxCluster;
  }

  /**
   * The cluster chain starting at `first`, validated: every link inside the volume, not free, not bad,
   * and no longer than `maxLen` (which also ends any loop). `exactLen`, when given, must match.
   */
  async chain(first: number, maxLen: number, what: string, exactLen?: number): Promise<number[]> {
    const out: number[] = [];
    let c = first;
    for (;;) {
      this.checkLink(out, c, maxLen, what, exactLen);
      out.push(c);
      const next = this.norm(this.rawSync(c) ?? (await this.getRaw(c)));
      if (next === EOC) break;
      c = this.checkNext(next, c, what);
    }
    this.checkLength(out, what, exactLen);
    return out;
  }

  /**
   * chain() when every FAT page the walk needs is in memory, without a suspension (the same checks and
   * errors); undefined as soon as a page is not.
   */
  chainCached(first: number, maxLen: number, what: string, exactLen?: number): number[] | undefined {
    const out: number[] = [];
    let c = first;
    for (;;) {
      this.checkLink(out, c, maxLen, what, exactLen);
      out.push(c);
      const raw = this.rawSync(c);
      if (raw === undefined) return undefined;
      const next = this.norm(raw);
      if (next === EOC) break;
      c = this.checkNext(next, c, what);
    }
    this.checkLength(out, what, exactLen);
    return out;
  }

  /** Cluster `c` may join the chain `out`: inside the volume, and the chain not yet `maxLen` long. */
  private checkLink(out: readonly number[], c: number, maxLen: number, what: string, exactLen: number | undefined): void {
    if (!this.validCluster(c)) {
      throw kerr('EIO', `msdosfs: ${what}: cluster chain ${out.length ? `after cluster ${out[out.length - 1]}` : 'start'} points to cluster ${c}, outside 2..${this.maxCluster}`);
    }
    if (out.length >= maxLen) {
      throw kerr('EIO', `msdosfs: ${what}: cluster chain longer than ${maxLen} clusters${exactLen !== undefined ? ' the size needs' : ''} (a loop or a chain longer than the size)`);
    }
  }

  /** The entry `next` of cluster `c`, not an end mark: the next cluster, unless it is a bad or free mark. */
  private checkNext(next: number, c: number, what: string): number {
    if (next === BAD) throw kerr('EIO', `msdosfs: ${what}: cluster chain runs into bad cluster mark at cluster ${c}`);
    if (next === 0) throw kerr('EIO', `msdosfs: ${what}: cluster chain runs into free cluster after cluster ${c}`);
    return next;
  }

  private checkLength(out: readonly number[], what: string, exactLen: number | undefined): void {
    if (exactLen !== undefined && out.length < exactLen) {
      throw kerr('EIO', `msdosfs: ${what}: cluster chain of ${out.length} clusters is shorter than the ${exactLen} the size needs`);
    }
  }

  /** Counts free clusters (reads the whole FAT once). */
  async countFree(): Promise<number> {
    if (this.freeCount !== undefined) return this.freeCount;
    let n = 0;
    for (let c = 2; c <= this.maxCluster; c++) {
      const v = this.rawSync(c) ?? (await this.getRaw(c));
      if (v === 0) n++;
    }
    this.freeCount = n;
    return n;
  }

  /**
   * Allocates `n` free clusters, preferring the ones right after `near`, links them into a chain ending in
   * EOC and returns them; ENOSPC (with nothing changed) when fewer are free.
   */
  alloc(n: number, near: number): Awaitable<number[]> {
    if (n <= 0) return [];
    if (this.freeCount === undefined) return this.countFree().then(() => this.alloc(n, near));
    if (this.freeCount < n) throw kerr('ENOSPC');
    const c = this.validCluster(near + 1) ? near + 1 : this.validCluster(this.nextFree) ? this.nextFree : 2;
    return this.allocScan(n, [], c, 0);
  }

  /**
   * alloc() from cluster `c` on, `scanned` clusters looked at and `got` found free so far: without waiting
   * while the FAT pages it looks at are in memory, and nothing changed until all `n` are found.
   */
  private allocScan(n: number, got: number[], c: number, scanned: number): Awaitable<number[]> {
    const total = this.maxCluster - 1;
    for (; got.length < n && scanned < total; scanned++) {
      const v = this.rawSync(c);
      if (v === undefined) return this.page(this.pageOf(c)).then(() => this.allocScan(n, got, c, scanned));
      if (v === 0) got.push(c);
      c = c >= this.maxCluster ? 2 : c + 1;
    }
    if (got.length < n) throw kerr('ENOSPC');
    // Every page scanned is in memory (pages are never dropped): each set is at once.
    for (let i = 0; i < got.length; i++) {
      if (!this.setNow(got[i]!, i + 1 < got.length ? got[i + 1]! : EOC)) throw kerr('EIO', `msdosfs: FAT page of cluster ${got[i]} not in memory`);
    }
    this.freeCount! -= n;
    this.nextFree = c;
    return got;
  }

  /**
   * Allocates one cluster for a directory, marked EOC: the highest free one at or below `dirNext`
   * (wrapping to the top), so that directories fill the volume from its end while file data fills it from
   * its start, and the data of files written one after another stays contiguous (one large device write)
   * however many directories are made between them. ENOSPC when none is free.
   */
  async allocDir(): Promise<number> {
    const free = await this.countFree();
    if (free < 1) throw kerr('ENOSPC');
    let c = this.validCluster(this.dirNext) ? this.dirNext : this.maxCluster;
    for (let scanned = 0; scanned < this.maxCluster - 1; scanned++) {
      if ((this.rawSync(c) ?? (await this.getRaw(c))) === 0) {
        await this.set(c, EOC);
        this.freeCount = free - 1;
        this.dirNext = c - 1;
        return c;
      }
      c = c <= 2 ? this.maxCluster : c - 1;
    }
    throw kerr('ENOSPC');
  }

  /** Frees the given clusters (the caller has unlinked them from any chain). */
  async free(clusters: readonly number[]): Promise<void> {
    if (clusters.length === 0) return;
    const free = await this.countFree();
    for (const c of clusters) await this.set(c, 0);
    this.freeCount = free + clusters.length;
  }

  /** Writes changed pages to every FAT copy (or only the active one when mirroring is off). */
  async flush(): Promise<void> {
    const pages = [...this.dirtyPages].sort((a, b) => a - b);
    for (const n of pages) {
      const pg = this.pages.get(n)!;
      const start = n * this.pageSize;
      for (let i = 0; i < this.geo.numFats; i++) {
        if (!this.geo.mirror && i !== this.geo.activeFat) continue;
        await this.dev.write(pg, this.geo.fatOffset + i * this.geo.fatBytes + start);
      }
      this.dirtyPages.delete(n);
    }
  }
}
