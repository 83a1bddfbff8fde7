/**
 * mkiso: builds an ISO 9660 image with Rock Ridge and Joliet from a directory
 * tree (what `makefs -t cd9660 -o rockridge` and `xorriso -as mkisofs -R -J`
 * do). The tree comes through IsoSourceTree, so the CLI can feed it from the
 * host and tests from memory; the image goes to an IsoSink at byte offsets.
 *
 * Layout: system area, PVD, Joliet SVD, terminator, the four path tables of
 * each namespace, ISO directories, Joliet directories, SUSP continuation
 * blocks, then file data (files over 4 GiB - 2 KiB as multi-extent files).
 * Directories deeper than ECMA-119's eight levels are written in place (as
 * mkisofs -D does), not relocated.
 */

import { kerr } from '../../kern/error.js';
import type { Timespec, VType } from '../../vfs/types.js';
import { S_IFMT, VTYPE_TO_IFMT } from '../../vfs/types.js';
import {
  DirectoryRecord, FL_DIRECTORY, FL_MULTIEXTENT, NM_CONTINUE, PathTableRecordL, PathTableRecordM, RripLink, RripNM,
  RripPN, RripPX, RripPXIno, RripSL, RripTF, SECTOR, SLC_CONTINUE, SLC_CURRENT, SLC_PARENT, SLC_ROOT, SuspCE, SuspER, SuspHeader,
  SuspSP, TF_ACCESS, TF_ATTRIBUTES, TF_MODIFY, VD_PRIMARY, VD_START, VD_SUPPLEMENTARY, VD_TERMINATOR, VolumeDescriptor,
  encodeDate7,
} from './layout.js';

export interface IsoSourceStat {
  type: VType;
  /** Permission bits (07777); type bits are ignored. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Timespec;
  atime?: Timespec;
  ctime?: Timespec;
  /** Linux-encoded device number of blk/chr nodes. */
  rdev?: number;
  /** Identity of the file on its source (e.g. `${dev}:${ino}`): regular files that share one are hard links, stored once. */
  linkId?: string;
}

/** A directory tree to put in an image. Paths are '/'-separated, relative to the tree's root ('' is the root). */
export interface IsoSourceTree {
  list(path: string): Promise<string[]>;
  /** lstat: a symbolic link is described, not followed. */
  stat(path: string): Promise<IsoSourceStat>;
  readlink(path: string): Promise<string>;
  /** Reads up to buf.length bytes at `offset`; returns the count (0 at the end). */
  read(path: string, buf: Uint8Array, offset: number): Promise<number>;
}

export interface IsoSink {
  write(buf: Uint8Array, offset: number): Promise<void>;
}

export interface MakeIsoOptions {
  /** Volume identifier (PVD: upper-cased d-characters, 32 at most; Joliet: 16 UCS-2 characters). */
  volumeId?: string;
  /** Volume creation time (default: the root directory's mtime). */
  time?: Timespec;
  /** Most nodes accepted from the source (default 1,000,000). */
  maxNodes?: number;
  /** Largest extent of a multi-extent file, a multiple of 2048 (default and most: 4 GiB - 2 KiB); smaller for tests. */
  extentSize?: number;
}

/** The largest extent of a multi-extent file: 4 GiB less one block, so lengths stay block-aligned (§6.5.1). */
export const MAX_EXTENT_BYTES = 0x1_0000_0000 - SECTOR;
/** Joliet names are at most 64 UCS-2 characters (Joliet specification §3.3). */
const JOLIET_NAME_MAX = 64;
/** Longest ISO 9660 identifier we write: level 2's 31 characters (§7.5.1, §7.6.3), plus ";1". */
const ISO_NAME_MAX = 31;

const enc = new TextEncoder();

interface Node {
  path: string;
  name: string;
  st: IsoSourceStat;
  parent: Node | null;
  children: Node[];
  isoName: string;
  jolietName: string;
  target?: string;
  /** Directories: number in the path table (1 = root), extents and sizes in both trees. */
  dirNumber: number;
  isoExtent: number;
  isoSize: number;
  jolietExtent: number;
  jolietSize: number;
  /** Files: first data block. */
  dataBlock: number;
  /** File serial number in PX; the first of a set of hard links, for the others. */
  serial: number;
  linkHead?: Node;
  /** Record of this node in its parent, and its "." record (directories): SUSP split and continuation areas. */
  su?: SuspPlan;
  dotSu?: SuspPlan;
  dotdotSu?: SuspPlan;
}

interface SuspPlan {
  inline: Uint8Array[];
  /** Continuation areas in order: their entries, and where they go (relative to the CE region). */
  areas: { entries: Uint8Array[]; relBlock: number; offset: number; size: number }[];
  inlineSize: number;
}

function entry(sig: string, len: number): Uint8Array {
  const e = new Uint8Array(len);
  SuspHeader.encode({ sig, length: len, version: 1 }, e);
  return e;
}

/** PX with the file serial number (RRIP 1.12's 44-byte form, as xorriso writes): hard links share one. */
function pxEntry(st: IsoSourceStat, nlink: number, serial: number): Uint8Array {
  const e = entry('PX', RripPXIno.size);
  RripPX.encode({ mode: ((VTYPE_TO_IFMT[st.type] & S_IFMT) | (st.mode & 0o7777)) >>> 0, nlink, uid: st.uid >>> 0, gid: st.gid >>> 0 }, e);
  RripPXIno.encode({ ino: serial }, e);
  return e;
}

function tfEntry(st: IsoSourceStat): Uint8Array {
  const e = entry('TF', 5 + 3 * 7);
  RripTF.encode({ flags: TF_MODIFY | TF_ACCESS | TF_ATTRIBUTES }, e);
  encodeDate7(st.mtime, e, 5);
  encodeDate7(st.atime ?? st.mtime, e, 12);
  encodeDate7(st.ctime ?? st.mtime, e, 19);
  return e;
}

function nmEntries(name: string): Uint8Array[] {
  const b = enc.encode(name);
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += 250) {
    const part = b.subarray(i, Math.min(b.length, i + 250));
    const e = entry('NM', 5 + part.length);
    RripNM.encode({ flags: i + 250 < b.length ? NM_CONTINUE : 0 }, e);
    e.set(part, 5);
    out.push(e);
  }
  return out;
}

/** SL entries for a target: components (§4.1.3.1) packed into entries of at most 255 bytes. */
function slEntries(target: string): Uint8Array[] {
  const comps: { flags: number; text: Uint8Array }[] = [];
  const parts = target.split('/');
  if (target.startsWith('/')) {
    comps.push({ flags: SLC_ROOT, text: new Uint8Array(0) });
    parts.shift();
  }
  for (const p of parts) {
    if (p === '') continue;
    if (p === '.') comps.push({ flags: SLC_CURRENT, text: new Uint8Array(0) });
    else if (p === '..') comps.push({ flags: SLC_PARENT, text: new Uint8Array(0) });
    else {
      const b = enc.encode(p);
      for (let i = 0; i < b.length; i += 240) {
        comps.push({ flags: i + 240 < b.length ? SLC_CONTINUE : 0, text: b.subarray(i, Math.min(b.length, i + 240)) });
      }
    }
  }
  const out: Uint8Array[] = [];
  let cur: number[] = [];
  const flush = (more: boolean): void => {
    const e = entry('SL', 5 + cur.length);
    RripSL.encode({ flags: more ? 1 : 0 }, e);
    e.set(cur, 5);
    out.push(e);
    cur = [];
  };
  for (const c of comps) {
    if (5 + cur.length + 2 + c.text.length > 255) flush(true);
    cur.push(c.flags, c.text.length, ...c.text);
  }
  flush(false);
  return out;
}

function pnEntry(rdev: number): Uint8Array {
  const e = entry('PN', RripPN.size);
  // Major and minor from Linux's encoding, recorded as high and low words (as mkisofs does on 64-bit dev_t).
  const major = (rdev >>> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  RripPN.encode({ high: major, low: minor }, e);
  return e;
}

/** The standard ER texts for RRIP 1.10 (RRIP §5.3). */
const ER_ID = 'RRIP_1991A';
const ER_DESC = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const ER_SRC = 'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

function erEntry(): Uint8Array {
  const e = entry('ER', 8 + ER_ID.length + ER_DESC.length + ER_SRC.length);
  SuspER.encode({ idLength: ER_ID.length, descLength: ER_DESC.length, srcLength: ER_SRC.length, extVersion: 1 }, e);
  e.set(enc.encode(ER_ID + ER_DESC + ER_SRC), 8);
  return e;
}

function spEntry(): Uint8Array {
  const e = entry('SP', SuspSP.size);
  SuspSP.encode({ check1: 0xbe, check2: 0xef, skip: 0 }, e);
  return e;
}

/** Bump allocator over the continuation blocks. */
class CeAllocator {
  blocks = 0;
  private used = SECTOR;
  alloc(size: number): { relBlock: number; offset: number } {
    if (this.used + size > SECTOR) {
      this.blocks++;
      this.used = 0;
    }
    const r = { relBlock: this.blocks - 1, offset: this.used };
    this.used += size;
    return r;
  }
}

/** Splits SUSP entries between a record (capacity `room`) and continuation areas chained by CE entries. */
function planSusp(entries: Uint8Array[], room: number, ce: CeAllocator): SuspPlan {
  const total = entries.reduce((s, e) => s + e.length, 0);
  if (total <= room) return { inline: entries, areas: [], inlineSize: total };
  const inline: Uint8Array[] = [];
  let used = 0;
  let i = 0;
  while (i < entries.length && used + entries[i]!.length + SuspCE.size <= room) used += entries[i++]!.length;
  inline.push(...entries.slice(0, i));
  const areas: SuspPlan['areas'] = [];
  while (i < entries.length) {
    const list: Uint8Array[] = [];
    let size = 0;
    while (i < entries.length) {
      const rest = entries.length - i - 1;
      const need = entries[i]!.length + (rest > 0 ? SuspCE.size : 0);
      if (size + need > SECTOR && list.length > 0) break;
      list.push(entries[i]!);
      size += entries[i]!.length;
      i++;
    }
    if (i < entries.length) size += SuspCE.size;
    const at = ce.alloc(size);
    areas.push({ entries: list, relBlock: at.relBlock, offset: at.offset, size });
  }
  return { inline, areas, inlineSize: used + SuspCE.size };
}

function ceEntry(block: number, offset: number, length: number): Uint8Array {
  const e = entry('CE', SuspCE.size);
  SuspCE.encode({ block, offset, length }, e);
  return e;
}

/** Writes a plan's inline part into `b` at `off`, and its areas into the continuation region `ceBuf`. */
function emitSusp(plan: SuspPlan, b: Uint8Array, off: number, ceBase: number, ceBuf: Uint8Array): void {
  let o = off;
  for (const e of plan.inline) { b.set(e, o); o += e.length; }
  if (plan.areas.length === 0) return;
  const first = plan.areas[0]!;
  b.set(ceEntry(ceBase + first.relBlock, first.offset, first.size), o);
  plan.areas.forEach((a, k) => {
    let p = a.relBlock * SECTOR + a.offset;
    for (const e of a.entries) { ceBuf.set(e, p); p += e.length; }
    const nx = plan.areas[k + 1];
    if (nx) ceBuf.set(ceEntry(ceBase + nx.relBlock, nx.offset, nx.size), p);
  });
}

// ---------------------------------------------------------------------------
// Names

function dchars(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/** An ISO 9660 identifier for `name`, unique among `taken` (level 2: 31 characters, d-characters, §7.5). */
function isoIdentifier(name: string, isDir: boolean, taken: Set<string>): string {
  let base: string, ext = '';
  const dot = name.lastIndexOf('.');
  if (!isDir && dot > 0) {
    base = dchars(name.slice(0, dot));
    ext = dchars(name.slice(dot + 1)).slice(0, 8);
  } else base = dchars(name);
  const room = isDir ? ISO_NAME_MAX : ISO_NAME_MAX - 1 - ext.length;
  if (base === '') base = '_';
  let cand = base.slice(0, room);
  for (let n = 1; ; n++) {
    const full = isDir ? cand : `${cand}.${ext}`;
    if (!taken.has(full)) {
      taken.add(full);
      return full;
    }
    const suffix = String(n);
    cand = base.slice(0, room - suffix.length - 1) + '_' + suffix;
  }
}

function jolietIdentifier(name: string, taken: Set<string>): string {
  let cand = truncateUtf16(name, JOLIET_NAME_MAX).replace(/[*/:;?\\]/g, '_');
  for (let n = 1; taken.has(cand); n++) {
    const suffix = `~${n}`;
    cand = truncateUtf16(name, JOLIET_NAME_MAX - suffix.length).replace(/[*/:;?\\]/g, '_') + suffix;
  }
  taken.add(cand);
  return cand;
}

function truncateUtf16(s: string, n: number): string {
  if (s.length <= n) return s;
  let t = s.slice(0, n);
  const last = t.charCodeAt(t.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) t = t.slice(0, -1);
  return t;
}

function utf16beBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    b[2 * i] = c >>> 8;
    b[2 * i + 1] = c & 0xff;
  }
  return b;
}

/** §9.3: records sorted by name, then extension, each compared as if padded with spaces. */
function isoCompare(a: string, b: string): number {
  const [an, ae = ''] = a.split('.');
  const [bn, be = ''] = b.split('.');
  const pad = (x: string, n: number): string => x.padEnd(n, ' ');
  const n = Math.max(an!.length, bn!.length);
  const c = pad(an!, n) < pad(bn!, n) ? -1 : pad(an!, n) > pad(bn!, n) ? 1 : 0;
  if (c !== 0) return c;
  const m = Math.max(ae.length, be.length);
  return pad(ae, m) < pad(be, m) ? -1 : pad(ae, m) > pad(be, m) ? 1 : 0;
}

function bytesCompare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// ---------------------------------------------------------------------------

function recordLength(nameLen: number, suLen: number): number {
  const base = 33 + nameLen + ((nameLen & 1) === 0 ? 1 : 0);
  const len = base + suLen;
  return len + (len & 1);
}

/** Space for SUSP in a record with an identifier of `nameLen` bytes. */
function suRoom(nameLen: number): number {
  const base = 33 + nameLen + ((nameLen & 1) === 0 ? 1 : 0);
  return (254 - base) & ~1;
}

function extentsOf(size: number, max: number): number[] {
  if (size === 0) return [0];
  const out: number[] = [];
  for (let left = size; left > 0; left -= Math.min(left, max)) out.push(Math.min(left, max));
  return out;
}

/** Builds the image; returns its size in bytes. */
export async function makeIso(src: IsoSourceTree, sink: IsoSink, opts: MakeIsoOptions = {}): Promise<{ size: number }> {
  const maxNodes = opts.maxNodes ?? 1_000_000;
  const extentMax = opts.extentSize ?? MAX_EXTENT_BYTES;
  if (extentMax % SECTOR !== 0 || extentMax <= 0 || extentMax > MAX_EXTENT_BYTES) throw kerr('EINVAL', `mkiso: extent size ${extentMax}`);
  // 1. Walk the tree breadth-first (path table order: by level, then parent, then name).
  const rootSt = await src.stat('');
  if (rootSt.type !== 'dir') throw kerr('ENOTDIR', 'mkiso: the source root is not a directory');
  const mk = (path: string, name: string, st: IsoSourceStat, parent: Node | null): Node => ({
    path, name, st, parent, children: [], isoName: '', jolietName: '', dirNumber: 0,
    isoExtent: 0, isoSize: 0, jolietExtent: 0, jolietSize: 0, dataBlock: 0, serial: 0,
  });
  const root = mk('', '', rootSt, null);
  const dirs: Node[] = [root];
  let count = 1;
  for (let d = 0; d < dirs.length; d++) {
    const dir = dirs[d]!;
    const names = (await src.list(dir.path)).filter((n) => n !== '.' && n !== '..');
    const isoTaken = new Set<string>();
    const jTaken = new Set<string>();
    for (const name of names.sort()) {
      if (++count > maxNodes) throw kerr('EFBIG', `mkiso: more than ${maxNodes} files`);
      // What a reader could not show: Rock Ridge names are path components of at most NAME_MAX bytes.
      if (name === '' || name.includes('/') || name.includes('\0')) throw kerr('EINVAL', `mkiso: ${dir.path}: invalid name ${JSON.stringify(name)}`);
      if (enc.encode(name).length > 255) throw kerr('ENAMETOOLONG', `mkiso: ${dir.path}/${name.slice(0, 40)}...: name longer than 255 bytes`);
      const path = dir.path === '' ? name : `${dir.path}/${name}`;
      const st = await src.stat(path);
      const n = mk(path, name, st, dir);
      n.isoName = isoIdentifier(name, st.type === 'dir', isoTaken) + (st.type === 'dir' ? '' : ';1');
      n.jolietName = jolietIdentifier(name, jTaken);
      if (st.type === 'lnk') n.target = await src.readlink(path);
      dir.children.push(n);
    }
    dir.children.sort((a, b) => isoCompare(a.isoName, b.isoName));
    for (const c of dir.children) if (c.st.type === 'dir') dirs.push(c);
  }
  // Breadth-first order with sorted children is path table order (§9.4); number the directories.
  dirs.forEach((d, i) => { d.dirNumber = i + 1; });

  // Serial numbers, and hard links: regular files with one linkId share the first one's data and serial.
  const heads = new Map<string, Node>();
  const linkCount = new Map<Node, number>();
  let serial = 1;
  for (const d of dirs) {
    d.serial = serial++;
    for (const c of d.children) {
      if (c.st.type === 'dir') continue;
      const head = c.st.type === 'reg' && c.st.linkId !== undefined ? heads.get(c.st.linkId) : undefined;
      if (head && head.st.size === c.st.size) {
        c.linkHead = head;
        c.serial = head.serial;
        linkCount.set(head, (linkCount.get(head) ?? 1) + 1);
        continue;
      }
      c.serial = serial++;
      if (c.st.type === 'reg' && c.st.linkId !== undefined) heads.set(c.st.linkId, c);
    }
  }

  // 2. Plan the SUSP of every ISO record, and so every directory's size.
  const ce = new CeAllocator();
  const rrEntries = (n: Node, nlink: number, withName: boolean): Uint8Array[] => {
    const list = [pxEntry(n.st, nlink, n.serial), tfEntry(n.st)];
    if (withName) list.push(...nmEntries(n.name));
    if (n.st.type === 'lnk') list.push(...slEntries(n.target ?? ''));
    if ((n.st.type === 'blk' || n.st.type === 'chr') && n.st.rdev !== undefined) list.push(pnEntry(n.st.rdev));
    return list;
  };
  const nlinkOf = (n: Node): number =>
    n.st.type === 'dir' ? 2 + n.children.filter((c) => c.st.type === 'dir').length : linkCount.get(n.linkHead ?? n) ?? 1;
  for (const d of dirs) {
    const dotList = rrEntries(d, nlinkOf(d), false);
    if (d === root) dotList.unshift(spEntry(), erEntry());
    d.dotSu = planSusp(dotList, suRoom(1), ce);
    const parent = d.parent ?? d;
    d.dotdotSu = planSusp(rrEntries(parent, nlinkOf(parent), false), suRoom(1), ce);
    for (const c of d.children) {
      c.su = planSusp(rrEntries(c, nlinkOf(c), true), suRoom(c.isoName.length), ce);
    }
  }
  // Joliet holds names and data only: symbolic links and special files stay out of it, as xorriso does.
  const inJoliet = (n: Node): boolean => n.st.type === 'dir' || n.st.type === 'reg';
  const dirBytes = (records: number[]): number => {
    let size = 0;
    for (const len of records) {
      const inBlock = size % SECTOR;
      if (inBlock + len > SECTOR) size += SECTOR - inBlock;
      size += len;
    }
    return Math.ceil(size / SECTOR) * SECTOR;
  };
  for (const d of dirs) {
    const recs = [recordLength(1, d.dotSu!.inlineSize), recordLength(1, d.dotdotSu!.inlineSize)];
    const jrecs = [recordLength(1, 0), recordLength(1, 0)];
    for (const c of d.children) {
      const n = c.st.type === 'reg' ? extentsOf(c.st.size, extentMax).length : 1;
      for (let k = 0; k < n; k++) {
        recs.push(recordLength(c.isoName.length, c.su!.inlineSize));
        if (inJoliet(c)) jrecs.push(recordLength(c.jolietName.length * 2, 0));
      }
    }
    d.isoSize = dirBytes(recs);
    d.jolietSize = dirBytes(jrecs);
  }

  // 3. Path tables (§9.4).
  const pathTable = (joliet: boolean, msb: boolean): Uint8Array => {
    const parts: Uint8Array[] = [];
    for (const d of dirs) {
      const id = d === root ? new Uint8Array(1) : joliet ? utf16beBytes(d.jolietName) : enc.encode(d.isoName);
      const r = new Uint8Array(8 + id.length + (id.length & 1));
      (msb ? PathTableRecordM : PathTableRecordL).encode({
        nameLength: id.length, xarLength: 0, extent: joliet ? d.jolietExtent : d.isoExtent, parent: d.parent ? d.parent.dirNumber : 1,
      }, r);
      r.set(id, 8);
      parts.push(r);
    }
    const size = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(size);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  };
  if (dirs.length > 0xffff) throw kerr('EFBIG', `mkiso: ${dirs.length} directories exceed the path table's 65535`);
  const ptSize = pathTable(false, false).length; // extents do not change the size
  const jptSize = pathTable(true, false).length;
  const ptBlocks = Math.ceil(ptSize / SECTOR), jptBlocks = Math.ceil(jptSize / SECTOR);

  // 4. Block allocation.
  let next = VD_START + 3; // PVD, SVD, terminator
  const lpt = next; next += ptBlocks;
  const mpt = next; next += ptBlocks;
  const jlpt = next; next += jptBlocks;
  const jmpt = next; next += jptBlocks;
  for (const d of dirs) { d.isoExtent = next; next += d.isoSize / SECTOR; }
  for (const d of dirs) { d.jolietExtent = next; next += d.jolietSize / SECTOR; }
  const ceBase = next;
  next += ce.blocks;
  const metaBlocks = next;
  const files: Node[] = [];
  for (const d of dirs) for (const c of d.children) if (c.st.type === 'reg' && !c.linkHead) files.push(c);
  for (const f of files) {
    f.dataBlock = next;
    next += Math.ceil(f.st.size / SECTOR);
  }
  const totalBlocks = next;
  if (totalBlocks > 0xffffffff) throw kerr('EFBIG', 'mkiso: image exceeds 2^32 blocks');

  // 5. Metadata.
  const meta = new Uint8Array(metaBlocks * SECTOR);
  const ceBuf = meta.subarray(ceBase * SECTOR);
  const time = opts.time ?? rootSt.mtime;
  const writeRecord = (b: Uint8Array, off: number, r: {
    extent: number; size: number; flags: number; time: Timespec; id: Uint8Array; su?: SuspPlan;
  }): number => {
    const len = recordLength(r.id.length, r.su?.inlineSize ?? 0);
    DirectoryRecord.encode({
      length: len, xarLength: 0, extent: r.extent, dataLength: r.size, recorded: r.time, flags: r.flags,
      unitSize: 0, gapSize: 0, volumeSequenceNumber: 1, nameLength: r.id.length,
    }, b, off);
    b.set(r.id, off + 33);
    if (r.su) emitSusp(r.su, b, off + 33 + r.id.length + ((r.id.length & 1) === 0 ? 1 : 0), ceBase, ceBuf);
    return len;
  };
  const DOT = new Uint8Array([0]), DOTDOT = new Uint8Array([1]);
  const writeDir = (d: Node, joliet: boolean): void => {
    const base = (joliet ? d.jolietExtent : d.isoExtent) * SECTOR;
    const size = joliet ? d.jolietSize : d.isoSize;
    const dirB = meta.subarray(base, base + size);
    let pos = 0;
    const put = (r: Parameters<typeof writeRecord>[2]): void => {
      const len = recordLength(r.id.length, r.su?.inlineSize ?? 0);
      if ((pos % SECTOR) + len > SECTOR) pos += SECTOR - (pos % SECTOR);
      pos += writeRecord(dirB, pos, r);
    };
    const p = d.parent ?? d;
    put({ extent: joliet ? d.jolietExtent : d.isoExtent, size, flags: FL_DIRECTORY, time: d.st.mtime, id: DOT, ...(joliet ? {} : { su: d.dotSu! }) });
    put({ extent: joliet ? p.jolietExtent : p.isoExtent, size: joliet ? p.jolietSize : p.isoSize, flags: FL_DIRECTORY, time: p.st.mtime, id: DOTDOT, ...(joliet ? {} : { su: d.dotdotSu! }) });
    const kids = joliet
      ? d.children.filter(inJoliet).sort((a, b) => bytesCompare(utf16beBytes(a.jolietName), utf16beBytes(b.jolietName)))
      : d.children;
    for (const c of kids) {
      const id = joliet ? utf16beBytes(c.jolietName) : enc.encode(c.isoName);
      const su = joliet ? undefined : c.su!;
      if (c.st.type === 'dir') {
        put({ extent: joliet ? c.jolietExtent : c.isoExtent, size: joliet ? c.jolietSize : c.isoSize, flags: FL_DIRECTORY, time: c.st.mtime, id, ...(su ? { su } : {}) });
      } else if (c.st.type === 'reg') {
        const parts = extentsOf(c.st.size, extentMax);
        let blk = c.st.size === 0 ? 0 : (c.linkHead ?? c).dataBlock;
        parts.forEach((len, k) => {
          put({ extent: blk, size: len, flags: k < parts.length - 1 ? FL_MULTIEXTENT : 0, time: c.st.mtime, id, ...(su ? { su } : {}) });
          blk += Math.ceil(len / SECTOR);
        });
      } else {
        put({ extent: 0, size: 0, flags: 0, time: c.st.mtime, id, ...(su ? { su } : {}) });
      }
    }
  };
  for (const d of dirs) { writeDir(d, false); writeDir(d, true); }
  meta.set(pathTable(false, false), lpt * SECTOR);
  meta.set(pathTable(false, true), mpt * SECTOR);
  meta.set(pathTable(true, false), jlpt * SECTOR);
  meta.set(pathTable(true, true), jmpt * SECTOR);

  // Volume descriptors (§8.4, §8.5, §8.3).
  const volId = dchars(opts.volumeId ?? 'CDROM').slice(0, 32);
  const jVolId = truncateUtf16(opts.volumeId ?? 'CDROM', 16);
  const rootRec = (joliet: boolean): Uint8Array => {
    const b = new Uint8Array(34);
    writeRecord(b, 0, { extent: joliet ? root.jolietExtent : root.isoExtent, size: joliet ? root.jolietSize : root.isoSize, flags: FL_DIRECTORY, time: root.st.mtime, id: DOT });
    return b;
  };
  const ucs2Field = (s: string, len: number): Uint8Array => {
    const b = new Uint8Array(len);
    for (let i = 0; i + 1 < len; i += 2) { b[i] = 0; b[i + 1] = 0x20; }
    b.set(utf16beBytes(s).subarray(0, len & ~1));
    return b;
  };
  const spaces = (s: string, len: number): Uint8Array => {
    const b = new Uint8Array(len).fill(0x20);
    b.set(enc.encode(s).subarray(0, len));
    return b;
  };
  const unset = new Uint8Array(17).fill(0x30);
  unset[16] = 0;
  const vd = (joliet: boolean): Uint8Array => {
    const b = new Uint8Array(SECTOR);
    VolumeDescriptor.encode({
      type: joliet ? VD_SUPPLEMENTARY : VD_PRIMARY, id: 'CD001', version: 1, flags: 0,
      systemId: joliet ? ucs2Field('', 32) : spaces('', 32),
      volumeId: joliet ? ucs2Field(jVolId, 32) : spaces(volId, 32),
      volumeSpaceSize: totalBlocks,
      escapes: joliet ? new Uint8Array([0x25, 0x2f, 0x45]) : new Uint8Array(0),
      volumeSetSize: 1, volumeSequenceNumber: 1, logicalBlockSize: SECTOR,
      pathTableSize: joliet ? jptSize : ptSize,
      lPathTable: joliet ? jlpt : lpt, lPathTableOpt: 0, mPathTable: joliet ? jmpt : mpt, mPathTableOpt: 0,
      rootRecord: rootRec(joliet),
      volumeSetId: joliet ? ucs2Field('', 128) : spaces('', 128),
      publisherId: joliet ? ucs2Field('', 128) : spaces('', 128),
      preparerId: joliet ? ucs2Field('', 128) : spaces('', 128),
      applicationId: joliet ? ucs2Field('ANYKERNEL MKISO', 128) : spaces('ANYKERNEL MKISO', 128),
      copyrightFileId: joliet ? ucs2Field('', 37) : spaces('', 37),
      abstractFileId: joliet ? ucs2Field('', 37) : spaces('', 37),
      bibliographicFileId: joliet ? ucs2Field('', 37) : spaces('', 37),
      creationTime: time, modificationTime: time,
      fileStructureVersion: 1,
    }, b);
    b.set(unset, 847); // expiration: not specified
    b.set(unset, 864); // effective: not specified
    return b;
  };
  meta.set(vd(false), VD_START * SECTOR);
  meta.set(vd(true), (VD_START + 1) * SECTOR);
  const term = new Uint8Array(SECTOR);
  VolumeDescriptor.encode({ type: VD_TERMINATOR, id: 'CD001', version: 1 }, term);
  meta.set(term.subarray(0, 7), (VD_START + 2) * SECTOR);
  await sink.write(meta, 0);

  // 6. File data, in large transfers; the last block of each file padded with zeros.
  const CHUNK = 1024 * 1024;
  const buf = new Uint8Array(CHUNK);
  for (const f of files) {
    let off = 0;
    const size = f.st.size;
    while (off < size) {
      const want = Math.min(CHUNK, size - off);
      let got = 0;
      while (got < want) {
        const n = await src.read(f.path, buf.subarray(got, want), off + got);
        if (n <= 0) break;
        got += n;
      }
      buf.fill(0, got, want); // a file that shrank meanwhile: zeros, the recorded size stands
      const padded = off + want === size ? Math.ceil(want / SECTOR) * SECTOR : want;
      if (padded > want) buf.fill(0, want, padded);
      await sink.write(buf.subarray(0, padded), f.dataBlock * SECTOR + off);
      off += want;
    }
  }
  return { size: totalBlocks * SECTOR };
}

/** Builds the image in memory. */
export async function makeIsoImage(src: IsoSourceTree, opts: MakeIsoOptions = {}): Promise<Uint8Array> {
  const chunks: { off: number; data: Uint8Array }[] = [];
  const { size } = await makeIso(src, { write: async (b, off) => { chunks.push({ off, data: b.slice() }); } }, opts);
  const out = new Uint8Array(size);
  for (const c of chunks) out.set(c.data, c.off);
  return out;
}

/** One node of an in-memory tree (also the format of the read-only suite's fixture). */
export interface TreeEntry {
  /** '/'-separated, relative, no leading '/': 'dir/file.txt'. Parents are implied when not listed. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (default 0644 files, 0755 directories, 0777 symlinks). */
  mode?: number;
  /** File contents (UTF-8 when a string). */
  content?: string | Uint8Array;
  /** Symlink target. */
  target?: string;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch (default: the tree's time). */
  mtime?: number;
}

/** An IsoSourceTree over a list of entries. */
export function memoryTree(entries: readonly TreeEntry[], time = 1_700_000_000): IsoSourceTree {
  interface M { st: IsoSourceStat; data?: Uint8Array; target?: string; kids: Set<string> }
  const nodes = new Map<string, M>();
  const t = (s: number): Timespec => ({ sec: s, nsec: 0 });
  const dir = (): M => ({ st: { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: t(time) }, kids: new Set() });
  nodes.set('', dir());
  const ensure = (path: string): M => {
    let m = nodes.get(path);
    if (m) return m;
    const slash = path.lastIndexOf('/');
    ensure(slash < 0 ? '' : path.slice(0, slash)).kids.add(path.slice(slash + 1));
    m = dir();
    nodes.set(path, m);
    return m;
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+|\/+$/g, '');
    const m = ensure(path);
    const data = typeof e.content === 'string' ? enc.encode(e.content) : e.content ?? new Uint8Array(0);
    const type: VType = e.type === 'file' ? 'reg' : e.type === 'dir' ? 'dir' : 'lnk';
    m.st = {
      type, mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'lnk' ? 0o777 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0,
      size: type === 'reg' ? data.length : type === 'lnk' ? enc.encode(e.target ?? '').length : 0, mtime: t(e.mtime ?? time),
    };
    if (type === 'reg') m.data = data;
    if (type === 'lnk') m.target = e.target ?? '';
  }
  const get = (p: string): M => {
    const m = nodes.get(p);
    if (!m) throw kerr('ENOENT', `memoryTree: ${p}`);
    return m;
  };
  return {
    async list(p) { return [...get(p).kids]; },
    async stat(p) { return { ...get(p).st }; },
    async readlink(p) { return get(p).target ?? ''; },
    async read(p, buf, offset) {
      const d = get(p).data ?? new Uint8Array(0);
      const n = Math.max(0, Math.min(buf.length, d.length - offset));
      buf.set(d.subarray(offset, offset + n));
      return n;
    },
  };
}
