/**
 * The cd9660 component (NetBSD's cd9660 file system): ISO 9660 (ECMA-119
 * levels 1–3) with Rock Ridge and Joliet, read-only. One namespace is shown
 * per mount — Rock Ridge when present, else Joliet, else plain ISO 9660 names
 * (mount options `norrip`, `nojoliet`, `gens`, `nomaplcase` as mount_cd9660(8)).
 *
 * Vnode keys: a directory is named by the byte offset of its extent (where its
 * "." record is), so it gets the same key from its parent, from ".." and from a
 * Rock Ridge child link; any other file by the byte offset of its (first)
 * directory record. A directory has the parent lookup first found it in; met
 * again elsewhere, or inside itself, it is refused (EIO): this makes the
 * visible tree a tree, whatever loops the records describe.
 *
 * Hostile input: every structure is bounded — directories (16 MiB), SUSP per
 * record (64 KiB, 32 continuation areas, no area visited twice), names (255
 * bytes), symlink targets (4096), multi-extent chains (4096 extents, one
 * name), the session scan (12,000 blocks, 16 candidate sets). A damaged
 * record hides its entry and logs one console line; the rest of the directory
 * stays readable. Path tables are cross-checked (L against M, record 1
 * against the root) and reported, never used for lookup.
 *
 * zisofs: files with a Rock Ridge ZF entry ("pz") are inflated block by block
 * on read (inflate.ts); st_size is the real size, st_blocks the stored one.
 *
 * Sessions: the descriptors at block 16 are those of the first session (or,
 * on an image xorriso grew, of the newest); later sessions appended after the
 * volume's end (mkisofs -C/-M) are found by scanning past each session's end.
 */

import { kerr, KernelError } from '../../kern/error.js';
import { BufCache } from '../../vfs/bio.js';
import type {
  BlockDevice, DirEntry, FileSystemType, FsMount, KernelServices, MountOptions, NewNode, ProbeResult, SetAttr, StatVfs,
  Timespec, Vattr, VnodeImpl, VnodeKey, VType,
} from '../../vfs/types.js';
import { ifmtToVType, S_IFMT } from '../../vfs/types.js';
import {
  DirectoryRecord, FL_ASSOCIATED, FL_DIRECTORY, FL_MULTIEXTENT, SECTOR, ZISOFS_MAGIC, ZisofsHeader,
} from './layout.js';
import { zlibInflate } from './inflate.js';
import { NAME_MAX, parseSystemUse, RRIP_IDS, type RockRidge } from './susp.js';
import { checkPathTables, findVolume, type Volume } from './volume.js';

export { makeIso, makeIsoImage, memoryTree, type IsoSourceTree, type IsoSourceStat, type MakeIsoOptions, type IsoSink, type TreeEntry } from './mkiso.js';

/** Largest directory we read (bytes); real ones are a few hundred KiB at most. */
const MAX_DIR_BYTES = 16 * 1024 * 1024;
/** Most extents of one multi-extent file (§6.5.1): 4096 × 4 GiB is far past any disc. */
const MAX_EXTENTS = 4096;
/**
 * Reads smaller than this go through a cache of CLUSTER-byte runs: mastering tools lay a directory's
 * files out one after another, so extracting a tree of small files costs one device read per cluster
 * instead of one per file (NetBSD's cluster read-ahead, in spirit). Larger reads go straight to the device.
 */
const SMALL_READ = 32 * 1024;
const CLUSTER = 128 * 1024;
const CLUSTER_SLOTS = 8;
/** Parsed directories kept, by total entries. */
const LISTING_CACHE_ENTRIES = 200_000;
/** Parsed file records kept for the vget after a lookup. */
const PARSED_CACHE_ENTRIES = 65_536;

type Namespace = 'rr' | 'joliet' | 'iso';

interface Entry {
  name: string;
  key: VnodeKey;
  type: VType;
  ino?: number;
  /** A plain file's record and System Use as parsed (moved to the mount's parsed cache). */
  parsed?: { raw: RawRecord; rr: RockRidge } | undefined;
}

interface Listing {
  extent: number;
  parentExtent: number;
  entries: Entry[];
  byName: Map<string, number>;
}

interface RawRecord {
  rec: ReturnType<typeof DirectoryRecord.decode>;
  name: Uint8Array;
  /** System Use area (before LEN_SKP is applied). */
  su: Uint8Array;
}

/** A zisofs-compressed file: its stored (compressed) length and block size. */
interface Zisofs {
  stored: number;
  blockLog2: number;
}

interface Extent {
  /** First data block (after the extended attribute record). */
  block: number;
  length: number;
  unit: number;
  gap: number;
}

/** NetBSD's ASSOCCHAR: prefix of associated files' names. */
const ASSOC_CHAR = '=';

/**
 * Joliet's UCS-2 (big-endian; UTF-16 surrogate pairs pass through), decoded by hand: TextDecoder's
 * 'utf-16be' is missing from Node builds without full ICU. An odd trailing byte is dropped, a lone
 * surrogate becomes U+FFFD (as a UTF-8 name would show it).
 */
const utf16be = {
  decode(b: Uint8Array): string {
    let s = '';
    for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
    return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  },
};
const utf8enc = new TextEncoder();

function parseRecord(b: Uint8Array, off: number, where: string): RawRecord {
  const len = b[off]!;
  if (len < DirectoryRecord.size + 1 || off + len > b.length) throw kerr('EIO', `cd9660: ${where}: directory record length ${len} invalid`);
  const rec = DirectoryRecord.decode(b.subarray(off, off + len));
  const nameEnd = 33 + rec.nameLength;
  if (rec.nameLength === 0 || nameEnd > len) throw kerr('EIO', `cd9660: ${where}: identifier length ${rec.nameLength} overruns record`);
  const suStart = nameEnd + ((rec.nameLength & 1) === 0 ? 1 : 0);
  return { rec, name: b.subarray(off + 33, off + nameEnd), su: b.subarray(off + Math.min(suStart, len), off + len) };
}

/** The type PX gives a record that is not flagged as a directory ('reg' when PX claims a directory). */
function nonDirType(mode: number): VType {
  const t = ifmtToVType(mode & S_IFMT);
  return t === undefined || t === 'dir' ? 'reg' : t;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

/** "." and ".." are identifiers 0x00 and 0x01 (§6.8.2.2). */
function specialName(name: Uint8Array): 0 | 1 | -1 {
  if (name.length !== 1) return -1;
  return name[0] === 0 ? 0 : name[0] === 1 ? 1 : -1;
}

/** A name a path can hold: non-empty, no '/', no NUL, not '.' or '..', at most NAME_MAX bytes. */
function validName(s: string): boolean {
  if (s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\0')) return false;
  return utf8enc.encode(s).length <= NAME_MAX;
}

export interface Cd9660Options {
  rockRidge: boolean;
  joliet: boolean;
  /** Keep ";1" version suffixes (and a bare trailing '.'). */
  gens: boolean;
  /** Lower-case plain ISO 9660 names. */
  maplcase: boolean;
}

export function parseCd9660Options(o: MountOptions['options']): Cd9660Options {
  return { rockRidge: !o.has('norrip'), joliet: !o.has('nojoliet'), gens: o.has('gens'), maplcase: !o.has('nomaplcase') };
}

/** Presents an ISO 9660 or Joliet identifier: drop the version (unless gens) and a bare trailing '.', map case. */
function presentName(raw: string, opts: Cd9660Options, lower: boolean): string {
  let s = raw;
  if (!opts.gens) {
    const semi = s.lastIndexOf(';');
    if (semi >= 0 && /^[0-9]*$/.test(s.slice(semi + 1))) s = s.slice(0, semi);
    if (s.length > 1 && s.endsWith('.')) s = s.slice(0, -1);
  }
  return lower && opts.maplcase ? s.toLowerCase() : s;
}

/** Whether Rock Ridge is in use: SP in the root's "." record and an RRIP ER (or RRIP entries right there). */
async function detectRockRidge(dev: BlockDevice, rootExtent: number, volumeBlocks: number): Promise<{ skip: number } | null> {
  if ((rootExtent + 1) * SECTOR > dev.size) return null;
  const b = new Uint8Array(SECTOR);
  await dev.read(b, rootExtent * SECTOR);
  const r = parseRecord(b, 0, 'root directory "." record');
  const rr = await parseSystemUse(r.su, async (blk) => {
    const x = new Uint8Array(SECTOR);
    await dev.read(x, blk * SECTOR);
    return x;
  }, volumeBlocks, 'root directory "." record');
  if (rr.spSkip === undefined) return null;
  const hasEr = (rr.extensions ?? []).some((id) => RRIP_IDS.has(id));
  return hasEr || rr.any ? { skip: rr.spSkip } : null;
}

function describe(vol: Volume, rr: boolean): string {
  let v = 'ISO 9660';
  if (rr) v += ' + Rock Ridge';
  if (vol.joliet) v += ' + Joliet';
  if (vol.sessions > 1) v += ` (${vol.sessions} sessions)`;
  return v;
}

function volumeLabel(vol: Volume): string {
  if (vol.joliet) {
    const s = utf16be.decode(vol.joliet.volumeId).replace(/[\s\0]+$/, '');
    if (s) return s;
  }
  return String.fromCharCode(...vol.pvd.volumeId).replace(/[\s\0]+$/, '');
}

function toEftype(e: unknown): never {
  if (e instanceof KernelError && e.code === 'EIO' && e.detail?.startsWith('cd9660:')) throw kerr('EFTYPE', e.detail);
  if (e instanceof KernelError) throw e;
  throw kerr('EFTYPE', `cd9660: ${(e as Error)?.message ?? String(e)}`);
}

export class Cd9660Mount implements FsMount {
  readonly rootKey: VnodeKey;
  readonly nameMax = NAME_MAX;
  readonly maxFileSize = Number.MAX_SAFE_INTEGER;
  readonly bio: BufCache;
  /**
   * File data of small reads: a few CLUSTER-sized runs in buffers allocated once (an extraction streams
   * through 1.3 GB of them; fresh buffers per run would be garbage at that rate). A slot being filled is
   * neither matched nor reused until its reader has copied out of it.
   */
  private readonly clusters = Array.from({ length: CLUSTER_SLOTS }, () => ({ base: -1, size: 0, used: 0, busy: false, data: new Uint8Array(CLUSTER) }));
  private clusterClock = 0;
  readonly volumeBlocks: number;
  private readonly listings = new Map<number, Listing>();
  private listingEntries = 0;
  /**
   * Records of plain files already parsed (with their System Use) by a listing, by key, taken by the
   * vget that follows a lookup so that each record is read and parsed once. Read-only volume: the bytes
   * cannot change in between. Bounded; a miss parses again.
   */
  private readonly parsed = new Map<number, { raw: RawRecord; rr: RockRidge }>();
  private readonly parents = new Map<number, number>();

  constructor(
    readonly dev: BlockDevice,
    readonly vol: Volume,
    readonly ns: Namespace,
    readonly suspSkip: number,
    readonly opts: Cd9660Options,
    readonly k: KernelServices,
  ) {
    this.bio = new BufCache(dev, 8 * 1024 * 1024);
    this.volumeBlocks = Math.floor(dev.size / SECTOR);
    const root = ns === 'joliet' ? vol.jolietRoot! : vol.root;
    this.rootKey = root.extent * SECTOR;
  }

  get rootExtent(): number {
    return this.rootKey / SECTOR;
  }

  /** One logical block through the buffer cache: a view, which stays valid after release since nothing ever rewrites a buffer of a read-only volume. */
  async block(blk: number, what: string): Promise<Uint8Array> {
    if (!Number.isSafeInteger(blk) || blk < 0 || blk >= this.volumeBlocks) throw kerr('EIO', `cd9660: ${what}: block ${blk} outside the volume`);
    const bp = await this.bio.bread(blk * SECTOR, SECTOR);
    const data = bp.data;
    this.bio.brelse(bp);
    return data;
  }

  /** Small file reads through the data cluster cache; `byte + out.length` is inside the device. */
  async readClustered(out: Uint8Array, byte: number): Promise<void> {
    let done = 0;
    while (done < out.length) {
      const at = byte + done;
      const base = at - (at % CLUSTER);
      const size = Math.min(CLUSTER, this.dev.size - base);
      let slot = this.clusters.find((c) => c.base === base && c.size === size && !c.busy);
      if (slot === undefined) {
        let victim: (typeof this.clusters)[number] | undefined;
        for (const c of this.clusters) if (!c.busy && (victim === undefined || c.used < victim.used)) victim = c;
        if (victim === undefined) {
          // Every slot is being filled by another reader: read this piece on its own.
          const tmp = new Uint8Array(size);
          await this.dev.read(tmp, base);
          const from = at - base;
          const take = Math.min(out.length - done, size - from);
          out.set(tmp.subarray(from, from + take), done);
          done += take;
          continue;
        }
        slot = victim;
        slot.busy = true;
        slot.base = -1;
        try {
          await this.dev.read(slot.data.subarray(0, size), base);
          slot.base = base;
          slot.size = size;
        } finally {
          slot.busy = false;
        }
      }
      slot.used = ++this.clusterClock;
      const from = at - base;
      const take = Math.min(out.length - done, size - from);
      out.set(slot.data.subarray(from, from + take), done);
      done += take;
    }
  }

  rockRidge(su: Uint8Array, where: string, skip = this.suspSkip): Promise<RockRidge> {
    if (this.ns !== 'rr') return Promise.resolve({ any: false });
    return parseSystemUse(su.subarray(Math.min(skip, su.length)), (b) => this.block(b, where), this.volumeBlocks, where);
  }

  decodeName(raw: RawRecord): string {
    if (this.ns === 'joliet') return presentName(utf16be.decode(raw.name), this.opts, false);
    return presentName(String.fromCharCode(...raw.name), this.opts, true);
  }

  /** The directory at `extent`, parsed and cached. */
  async listing(extent: number): Promise<Listing> {
    const hit = this.listings.get(extent);
    if (hit) {
      this.listings.delete(extent);
      this.listings.set(extent, hit);
      return hit;
    }
    const where = `directory at block ${extent}`;
    const first = await this.block(extent, where);
    const dot = parseRecord(first, 0, where);
    if (specialName(dot.name) !== 0) throw kerr('EIO', `cd9660: ${where}: first record is not "."`);
    const size = dot.rec.dataLength;
    if (size > MAX_DIR_BYTES) throw kerr('EIO', `cd9660: ${where}: size ${size} exceeds ${MAX_DIR_BYTES}`);
    const blocks = Math.ceil(size / SECTOR);
    if (extent + blocks > this.volumeBlocks) throw kerr('EIO', `cd9660: ${where}: ${blocks} blocks run past the volume`);
    const entries: Entry[] = [];
    const byName = new Map<string, number>();
    let parentExtent = -1;
    let group: { key: number; raw: RawRecord } | null = null;
    let lastName: string | null = null;
    let skipped = 0;
    let damaged = 0;
    let firstDamage: string | undefined;
    for (let i = 0; i < blocks; i++) {
      const b = await this.block(extent + i, where);
      let pos = 0;
      while (pos < SECTOR && i * SECTOR + pos < size) {
        if (b[pos] === 0) break; // records never span blocks (§6.8.1.1): the rest of this block is padding
        const off = (extent + i) * SECTOR + pos;
        const len = b[pos]!;
        try {
          const raw = parseRecord(b, pos, where);
          const special = specialName(raw.name);
          if (special === 0) continue;
          if (special === 1) {
            parentExtent = raw.rec.extent;
            if (this.ns === 'rr') {
              const rr = await this.rockRidge(raw.su, `${where} ".." record`);
              if (rr.parentLink !== undefined) parentExtent = rr.parentLink;
            }
            continue;
          }
          // A multi-extent file (§6.5.1) is several records with one name; all but the last carry the flag.
          if (group !== null && !sameBytes(group.raw.name, raw.name)) {
            damaged++;
            firstDamage ??= `cd9660: ${where}: multi-extent file at ${group.key} continues with another name`;
            group = null;
          }
          if (group === null) group = { key: off, raw };
          if (raw.rec.flags & FL_MULTIEXTENT) continue;
          const head = group;
          group = null;
          const e = await this.entryOf(head.raw, head.key, where);
          if (e === null) { skipped++; continue; }
          if (!this.opts.gens && e.name === lastName) continue; // an older version (§9.3: higher versions sort first)
          lastName = e.name;
          if (byName.has(e.name)) { skipped++; continue; }
          byName.set(e.name, entries.length);
          entries.push(e);
          if (e.parsed) {
            if (this.parsed.size >= PARSED_CACHE_ENTRIES) this.parsed.clear();
            this.parsed.set(e.key, e.parsed);
            e.parsed = undefined;
          }
        } catch (err) {
          // One damaged record hides one entry, not the directory; the console says which.
          if (!(err instanceof KernelError) || err.code !== 'EIO') throw err;
          group = null;
          damaged++;
          firstDamage ??= err.detail ?? err.message;
          if (len < DirectoryRecord.size + 1 || pos + len > SECTOR) break; // the rest of this block cannot be walked
        } finally {
          pos += len;
        }
      }
    }
    if (group !== null) {
      damaged++;
      firstDamage ??= `cd9660: ${where}: multi-extent file at ${group.key} runs past the directory's end`;
    }
    if (parentExtent < 0) throw kerr('EIO', `cd9660: ${where}: no ".." record`);
    if (skipped > 0) this.k.log(`cd9660: ${where}: ${skipped} entries with unusable or duplicate names hidden`);
    if (damaged > 0) this.k.log(`${firstDamage}${damaged > 1 ? ` (and ${damaged - 1} more damaged records hidden)` : ' (entry hidden)'}`);
    const l: Listing = { extent, parentExtent, entries, byName };
    this.listings.set(extent, l);
    this.listingEntries += entries.length + 1;
    for (const [ext, old] of this.listings) {
      if (this.listingEntries <= LISTING_CACHE_ENTRIES || ext === extent) break;
      this.listings.delete(ext);
      this.listingEntries -= old.entries.length + 1;
    }
    return l;
  }

  private async entryOf(raw: RawRecord, key: number, where: string): Promise<Entry | null> {
    let name: string | undefined;
    let type: VType = raw.rec.flags & FL_DIRECTORY ? 'dir' : 'reg';
    let k = type === 'dir' ? raw.rec.extent * SECTOR : key;
    let ino: number | undefined;
    let rr: RockRidge | undefined;
    if (this.ns === 'rr') {
      rr = await this.rockRidge(raw.su, `${where} record at ${key}`);
      if (rr.relocated) return null;
      if (rr.nameSpecial) return null;
      name = rr.name;
      // Whether it is a directory is the record's flag (or a child link); PX only refines other types.
      if (type !== 'dir' && rr.mode !== undefined) type = nonDirType(rr.mode);
      if (rr.childLink !== undefined) {
        type = 'dir';
        k = rr.childLink * SECTOR;
      }
      if (rr.ino !== undefined && rr.ino !== 0) ino = rr.ino;
    }
    if (name === undefined) {
      name = this.decodeName(raw);
      if (raw.rec.flags & FL_ASSOCIATED) name = ASSOC_CHAR + name;
    }
    if (!validName(name)) return null;
    const e: Entry = { name, key: k, type };
    if (ino !== undefined) e.ino = ino;
    if (type !== 'dir' && !(raw.rec.flags & (FL_MULTIEXTENT | FL_DIRECTORY))) e.parsed = { raw, rr: rr ?? { any: false } };
    return e;
  }

  /**
   * Records that directory `child` was found in `parent`. Each directory has one parent: a directory
   * met again under another parent, or under itself or one of its descendants, is refused, so the
   * tree shown is a tree whatever loops the records describe. (The on-disk ".." cannot serve: xorriso
   * writes Joliet ".." records that name the directory itself.)
   */
  adopt(child: number, parent: number): void {
    const known = this.parents.get(child);
    if (known === parent) return;
    const bad = (why: string): never => {
      throw kerr('EIO', `cd9660: directory at block ${child} found in block ${parent}: ${why}`);
    };
    if (known !== undefined) bad(`already found in block ${known}`);
    if (child === this.rootExtent) bad('it is the root directory');
    let a = parent;
    for (let depth = 0; a !== this.rootExtent; depth++) {
      if (a === child) bad('it contains its own parent');
      const up = this.parents.get(a);
      if (up === undefined || depth > 1_000_000) break;
      a = up;
    }
    this.parents.set(child, parent);
  }

  /** That a directory's extent starts with its "." record (what vget will take it for). */
  async checkDirectory(extent: number): Promise<void> {
    const where = `directory at block ${extent}`;
    const dot = parseRecord(await this.block(extent, where), 0, where);
    if (specialName(dot.name) !== 0 || !(dot.rec.flags & FL_DIRECTORY)) throw kerr('EIO', `cd9660: ${where}: does not start with a "." record`);
  }

  /** The parent of a directory: where lookup found it, else what its ".." record (or PL) names. */
  parentOf(extent: number, l: Listing): number {
    if (extent === this.rootExtent) return extent;
    return this.parents.get(extent) ?? l.parentExtent;
  }

  async vget(key: VnodeKey): Promise<VnodeImpl> {
    if (!Number.isSafeInteger(key) || key < 0) throw kerr('ESTALE', `cd9660: bad key ${key}`);
    const blk = Math.floor(key / SECTOR);
    const pos = key % SECTOR;
    const where = `record at ${key}`;
    const pre = this.parsed.get(key);
    if (pre !== undefined) {
      this.parsed.delete(key);
      return this.fileNode(key, pre.raw, where, pre.rr);
    }
    const b = await this.block(blk, where);
    const raw = parseRecord(b, pos, where);
    if (pos === 0 && specialName(raw.name) === 0) return this.dirNode(key, raw);
    return this.fileNode(key, raw, where);
  }

  private async dirNode(key: number, dot: RawRecord): Promise<IsoVnode> {
    const extent = key / SECTOR;
    const isRoot = extent === this.rootExtent;
    // The root's "." carries SP at offset 0 (SUSP §5.3): LEN_SKP does not apply to it.
    const rr = await this.rockRidge(dot.su, `directory at block ${extent}`, isRoot ? 0 : this.suspSkip);
    const t = dot.rec.recorded;
    const attr: Vattr = {
      type: 'dir',
      mode: rr.mode !== undefined ? rr.mode & 0o7777 : 0o555,
      nlink: rr.nlink ?? 2,
      uid: rr.uid ?? 0,
      gid: rr.gid ?? 0,
      size: dot.rec.dataLength,
      blocks: Math.ceil(dot.rec.dataLength / 512),
      blksize: SECTOR,
      ino: rr.ino || key,
      rdev: 0,
      atime: rr.atime ?? t,
      mtime: rr.mtime ?? t,
      ctime: rr.ctime ?? t,
    };
    if (rr.birthtime) attr.birthtime = rr.birthtime;
    return new IsoVnode(this, key, attr, [], undefined);
  }

  private async fileNode(key: number, first: RawRecord, where: string, parsedRr?: RockRidge): Promise<IsoVnode> {
    const extents: Extent[] = [];
    let raw = first;
    let blk = Math.floor(key / SECTOR);
    let pos = key % SECTOR;
    // The record's block, needed only to follow a multi-extent chain.
    let b: Uint8Array | null = null;
    let size = 0;
    for (;;) {
      const r = raw.rec;
      const unit = r.unitSize, gap = unit === 0 ? 0 : r.gapSize;
      extents.push({ block: r.extent + r.xarLength, length: r.dataLength, unit, gap });
      size += r.dataLength;
      if (!(r.flags & FL_MULTIEXTENT)) break;
      if (extents.length >= MAX_EXTENTS) throw kerr('EIO', `cd9660: ${where}: more than ${MAX_EXTENTS} extents`);
      pos += r.length;
      b ??= await this.block(blk, where);
      if (pos >= SECTOR || b[pos] === 0) {
        blk++;
        pos = 0;
        b = await this.block(blk, where);
      }
      raw = parseRecord(b, pos, where);
      if (!sameBytes(raw.name, first.name)) {
        throw kerr('EIO', `cd9660: ${where}: multi-extent file continues with another name`);
      }
    }
    const rr = parsedRr ?? (await this.rockRidge(first.su, where));
    const t = first.rec.recorded;
    if (first.rec.flags & FL_DIRECTORY) throw kerr('EIO', `cd9660: ${where}: directory reached through a file record`);
    const type: VType = rr.mode !== undefined ? nonDirType(rr.mode) : 'reg';
    if (rr.childLink !== undefined) throw kerr('EIO', `cd9660: ${where}: child link reached as a file`);
    let symlink: string | undefined;
    if (type === 'lnk') {
      if (rr.symlink === undefined) throw kerr('EIO', `cd9660: ${where}: symbolic link without SL entries`);
      symlink = rr.symlink;
      size = utf8enc.encode(symlink).length;
    }
    const attr: Vattr = {
      type,
      mode: rr.mode !== undefined ? rr.mode & 0o7777 : 0o444,
      nlink: rr.nlink ?? 1,
      uid: rr.uid ?? 0,
      gid: rr.gid ?? 0,
      size,
      blocks: type === 'reg' ? Math.ceil(size / 512) : 0,
      blksize: SECTOR,
      ino: rr.ino || key,
      rdev: type === 'blk' || type === 'chr' ? rr.rdev ?? 0 : 0,
      atime: rr.atime ?? t,
      mtime: rr.mtime ?? t,
      ctime: rr.ctime ?? t,
    };
    if (rr.birthtime) attr.birthtime = rr.birthtime;
    let zisofs: Zisofs | undefined;
    if (type === 'reg' && rr.zisofs) {
      // Only zisofs "pz" is known; other algorithms read as the stored bytes, as readers without them do.
      if (rr.zisofs.algorithm === 'pz') {
        zisofs = { stored: size, blockLog2: rr.zisofs.blockLog2 };
        attr.size = rr.zisofs.size;
        attr.blocks = Math.ceil(size / 512);
      }
    }
    return new IsoVnode(this, key, attr, type === 'reg' ? extents : [], symlink, zisofs);
  }

  async statvfs(): Promise<StatVfs> {
    return {
      bsize: SECTOR, frsize: SECTOR, blocks: this.vol.pvd.volumeSpaceSize, bfree: 0, bavail: 0,
      files: 0, ffree: 0, favail: 0, fsid: this.vol.pvd.volumeSpaceSize ^ this.rootKey, namemax: NAME_MAX,
      flag: 1, // ST_RDONLY: always
    };
  }

  async sync(): Promise<void> {}

  async unmount(): Promise<void> {
    this.listings.clear();
    this.bio.purge();
    for (const c of this.clusters) c.base = -1;
  }
}

function erofs(): Promise<never> {
  return Promise.reject(kerr('EROFS', 'cd9660: read-only file system'));
}

export class IsoVnode implements VnodeImpl {
  constructor(
    readonly mnt: Cd9660Mount,
    readonly key: VnodeKey,
    readonly attr: Vattr,
    readonly extents: readonly Extent[],
    readonly target: string | undefined,
    readonly zisofs?: Zisofs,
  ) {}

  /** The last zisofs block inflated: extraction reads a file front to back in pieces smaller than a block. */
  private zblock: { index: number; data: Uint8Array } | undefined;

  getattr(): Vattr {
    return { ...this.attr };
  }

  private get extent(): number {
    return this.key / SECTOR;
  }

  async lookup(name: string): Promise<VnodeKey | null> {
    if (this.attr.type !== 'dir') throw kerr('ENOTDIR');
    const l = await this.mnt.listing(this.extent);
    if (name === '..') return this.mnt.parentOf(this.extent, l) * SECTOR;
    const i = l.byName.get(name);
    if (i === undefined) return null;
    const e = l.entries[i]!;
    if (e.type === 'dir') {
      await this.mnt.checkDirectory(e.key / SECTOR);
      this.mnt.adopt(e.key / SECTOR, this.extent);
    }
    return e.key;
  }

  async readdir(cookie: number, max: number): Promise<DirEntry[]> {
    if (this.attr.type !== 'dir') throw kerr('ENOTDIR');
    const l = await this.mnt.listing(this.extent);
    const out: DirEntry[] = [];
    for (let c = cookie; c < l.entries.length + 2 && out.length < Math.max(1, max); c++) {
      if (c === 0) out.push({ name: '.', key: this.key, type: 'dir', next: 1 });
      else if (c === 1) out.push({ name: '..', key: this.mnt.parentOf(this.extent, l) * SECTOR, type: 'dir', next: 2 });
      else {
        const e = l.entries[c - 2]!;
        const d: DirEntry = { name: e.name, key: e.key, type: e.type, next: c + 1 };
        if (e.ino !== undefined) d.ino = e.ino;
        out.push(d);
      }
    }
    return out;
  }

  async readlink(): Promise<string> {
    if (this.target === undefined) throw kerr('EINVAL');
    return this.target;
  }

  async read(buf: Uint8Array, offset: number): Promise<number> {
    if (this.attr.type === 'dir') throw kerr('EISDIR');
    if (this.attr.type !== 'reg') throw kerr('EINVAL');
    if (this.zisofs) return this.readZisofs(buf, offset, this.zisofs);
    return this.readStored(buf, offset, this.attr.size);
  }

  /**
   * zisofs: a header, a table of block offsets (one more than blocks), then each block as a zlib
   * stream (an empty one for a block of zeros). Every offset is checked against the stored size and
   * every block's output against the block size.
   */
  private async readZisofs(buf: Uint8Array, offset: number, z: Zisofs): Promise<number> {
    const size = this.attr.size;
    if (offset >= size || buf.length === 0) return 0;
    const where = `file at ${this.key}`;
    const fail = (why: string): never => {
      throw kerr('EIO', `cd9660: zisofs ${where}: ${why}`);
    };
    const hdr = new Uint8Array(ZisofsHeader.size);
    if ((await this.readStored(hdr, 0, z.stored)) !== hdr.length) fail('shorter than its header');
    const h = ZisofsHeader.decode(hdr);
    if (!ZISOFS_MAGIC.every((c, i) => h.magic[i] === c)) fail('bad magic');
    if (h.size !== size || h.blockLog2 !== z.blockLog2 || h.blockLog2 < 15 || h.blockLog2 > 17 || h.headerSize < 4) {
      fail(`header (size ${h.size}, block 2^${h.blockLog2}) disagrees with ZF (size ${size}, block 2^${z.blockLog2})`);
    }
    const bs = 2 ** h.blockLog2;
    const n = Math.min(buf.length, size - offset);
    let done = 0;
    const ptr = new Uint8Array(8);
    while (done < n) {
      const at = offset + done;
      const index = Math.floor(at / bs);
      let block = this.zblock?.index === index ? this.zblock.data : undefined;
      if (!block) {
        const want = Math.min(bs, size - index * bs);
        if ((await this.readStored(ptr, h.headerSize * 4 + index * 4, z.stored)) !== 8) fail(`block table entry ${index} past the data`);
        const start = ptr[0]! | (ptr[1]! << 8) | (ptr[2]! << 16) | (ptr[3]! * 2 ** 24);
        const end = ptr[4]! | (ptr[5]! << 8) | (ptr[6]! << 16) | (ptr[7]! * 2 ** 24);
        if (end < start || end > z.stored || end - start > bs + (bs >>> 3) + 64) fail(`block ${index} at ${start}..${end} out of range`);
        block = new Uint8Array(want);
        if (end > start) {
          const packed = new Uint8Array(end - start);
          if ((await this.readStored(packed, start, z.stored)) !== packed.length) fail(`block ${index} short`);
          if (zlibInflate(packed, block) !== want) fail(`block ${index} inflates to the wrong size`);
        }
        this.zblock = { index, data: block };
      }
      const from = at - index * bs;
      const take = Math.min(block.length - from, n - done);
      buf.set(block.subarray(from, from + take), done);
      done += take;
    }
    return done;
  }

  /** The bytes as stored, within the first `size` bytes of the extents. */
  private async readStored(buf: Uint8Array, offset: number, size: number): Promise<number> {
    if (offset >= size || buf.length === 0) return 0;
    const n = Math.min(buf.length, size - offset);
    let base = 0; // file offset where the current extent starts
    let done = 0;
    for (const ext of this.extents) {
      if (done >= n) break;
      const end = base + ext.length;
      const at = offset + done;
      if (at < end) {
        const take = Math.min(end - at, n - done);
        await this.readExtent(ext, at - base, buf.subarray(done, done + take));
        done += take;
      }
      base = end;
    }
    return done;
  }

  /** Reads `out.length` bytes at `off` within one extent: one transfer, or one per file unit when interleaved (§6.4.3). */
  private async readExtent(ext: Extent, off: number, out: Uint8Array): Promise<void> {
    const dev = this.mnt.dev;
    const where = `cd9660: file at ${this.key}`;
    const check = (byte: number, len: number): void => {
      if (byte + len > dev.size) throw kerr('EIO', `${where}: data at byte ${byte} (+${len}) lies outside the device`);
    };
    if (ext.unit === 0) {
      const byte = ext.block * SECTOR + off;
      check(byte, out.length);
      if (out.length < SMALL_READ) await this.mnt.readClustered(out, byte);
      else await dev.read(out, byte);
      return;
    }
    const unitBytes = ext.unit * SECTOR;
    const stride = (ext.unit + ext.gap) * SECTOR;
    let done = 0;
    while (done < out.length) {
      const o = off + done;
      const u = Math.floor(o / unitBytes);
      const inUnit = o - u * unitBytes;
      const take = Math.min(unitBytes - inUnit, out.length - done);
      const byte = ext.block * SECTOR + u * stride + inUnit;
      check(byte, take);
      await dev.read(out.subarray(done, done + take), byte);
      done += take;
    }
  }

  setattr(_a: SetAttr): Promise<void> { return erofs(); }
  create(_n: string, _node: NewNode): Promise<VnodeKey> { return erofs(); }
  mkdir(_n: string, _node: NewNode): Promise<VnodeKey> { return erofs(); }
  symlink(_n: string, _t: string, _node: NewNode): Promise<VnodeKey> { return erofs(); }
  link(_n: string, _t: VnodeImpl, _time: Timespec): Promise<void> { return erofs(); }
  remove(_n: string, _node: VnodeImpl, _time: Timespec): Promise<void> { return erofs(); }
  rmdir(_n: string, _node: VnodeImpl, _time: Timespec): Promise<void> { return erofs(); }
  rename(_f: string, _fn: VnodeImpl, _td: VnodeImpl, _tn: string, _to: VnodeImpl | null, _time: Timespec): Promise<void> { return erofs(); }
  write(_b: Uint8Array, _o: number, _time: Timespec): Promise<number> { return erofs(); }
  async fsync(): Promise<void> {}
  setxattr(): Promise<void> { return erofs(); }
  removexattr(): Promise<void> { return erofs(); }
}

/** Mounts the volume on `dev`: finds the last session, picks the namespace, checks the root. */
export async function mountCd9660(dev: BlockDevice, opts: MountOptions, k: KernelServices): Promise<Cd9660Mount> {
  const o = parseCd9660Options(opts.options);
  try {
    const vol = await findVolume(dev);
    if (!vol) throw kerr('EFTYPE', `cd9660: ${dev.name}: no ISO 9660 volume descriptor`);
    const blocks = Math.floor(dev.size / SECTOR);
    if (vol.root.extent >= blocks) throw kerr('EFTYPE', `cd9660: root directory at block ${vol.root.extent} lies outside the device`);
    const rr = o.rockRidge ? await detectRockRidge(dev, vol.root.extent, blocks) : null;
    let ns: Namespace = 'iso';
    if (rr) ns = 'rr';
    else if (o.joliet && vol.jolietRoot && vol.jolietRoot.extent < blocks) ns = 'joliet';
    const problem = await checkPathTables(dev, ns === 'joliet' ? vol.joliet! : vol.pvd, ns === 'joliet' ? vol.jolietRoot!.extent : vol.root.extent)
      .catch((e: unknown) => (e instanceof KernelError ? e.detail ?? e.code : String(e)));
    if (problem !== null) k.log(`cd9660: ${dev.name}: ${problem} (path tables are not used)`);
    const m = new Cd9660Mount(dev, vol, ns, rr?.skip ?? 0, o, k);
    await m.listing(m.rootExtent);
    return m;
  } catch (e) {
    toEftype(e);
  }
}

/** Cheap detection for `-t auto`: the descriptor set and, for the variant, the root's SUSP. */
export async function probeCd9660(dev: BlockDevice): Promise<ProbeResult | null> {
  try {
    const vol = await findVolume(dev);
    if (!vol) return null;
    let rr = false;
    try {
      rr = (await detectRockRidge(dev, vol.root.extent, Math.floor(dev.size / SECTOR))) !== null;
    } catch {
      rr = false;
    }
    return { type: 'cd9660', variant: describe(vol, rr), label: volumeLabel(vol), size: vol.pvd.volumeSpaceSize * SECTOR };
  } catch {
    return null;
  }
}

export const cd9660: FileSystemType = {
  name: 'cd9660',
  aliases: ['iso9660'],
  needsDevice: true,
  capabilities: {
    readonly: true,
    symlinks: true,
    hardlinks: false,
    permissions: true,
    specialFiles: true,
    sparse: false,
    xattr: false,
    timeResolutionNs: 1e9,
    atime: true,
    nameMax: NAME_MAX,
  },
  probe: probeCd9660,
  async mount(dev: BlockDevice | null, opts: MountOptions, k: KernelServices): Promise<FsMount> {
    if (!dev) throw kerr('ENOTBLK', 'cd9660: a block device is required');
    return mountCd9660(dev, opts, k);
  },
};

export default cd9660;
