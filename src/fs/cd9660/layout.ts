/**
 * The on-disk structures of ISO 9660 (ECMA-119), Joliet, SUSP (IEEE P1281) and
 * Rock Ridge (RRIP, IEEE P1282), each declared once as a table of fields
 * (offset, width, encoding, name) from which both the reader and mkiso's
 * writer decode and encode. Offsets are 0-based (the standards count from 1).
 */

import { kerr } from '../../kern/error.js';
import type { Timespec } from '../../vfs/types.js';

/**
 * Field encodings. ECMA-119 §7.1–7.3: 711/721/731 are little-endian ("lsb"),
 * 712/722/732 big-endian ("msb"), 723/733 both-endian ("both": the LSB copy
 * then the MSB copy, which must agree). §8.4.26.1 dec-datetime (17 bytes),
 * §9.1.5 dir-record datetime (7 bytes).
 */
export type FieldKind =
  | 'u8' | 'u16lsb' | 'u16msb' | 'u32lsb' | 'u32msb' | 'u16both' | 'u32both'
  | 'str' | 'bytes' | 'date7' | 'date17';

export interface Field {
  readonly off: number;
  readonly len: number;
  readonly kind: FieldKind;
  readonly name: string;
}

type ValueOf<K extends FieldKind> = K extends 'str' ? string : K extends 'bytes' ? Uint8Array : K extends 'date7' | 'date17' ? Timespec : number;
export type Decoded<F extends readonly Field[]> = { [E in F[number] as E['name']]: ValueOf<E['kind']> };

export interface Struct<F extends readonly Field[]> {
  readonly name: string;
  /** Fixed part, in bytes. */
  readonly size: number;
  readonly fields: F;
  /** Decodes the fixed part at `off`; EIO naming the structure when it does not fit or both-endian copies disagree. */
  decode(b: Uint8Array, off?: number): Decoded<F>;
  /** Encodes the given fields at `off` (absent fields are left as they are). */
  encode(v: Partial<Decoded<F>>, b: Uint8Array, off?: number): void;
}

export function defineStruct<const F extends readonly Field[]>(name: string, size: number, fields: F): Struct<F> {
  return {
    name,
    size,
    fields,
    decode(b: Uint8Array, off = 0): Decoded<F> {
      if (off < 0 || off + size > b.length) throw kerr('EIO', `cd9660: ${name} at ${off}: truncated (${b.length - off} of ${size} bytes)`);
      const out: Record<string, unknown> = {};
      for (const f of fields) out[f.name] = readField(b, off + f.off, f, name);
      return out as Decoded<F>;
    },
    encode(v: Partial<Decoded<F>>, b: Uint8Array, off = 0): void {
      const rec = v as Record<string, unknown>;
      for (const f of fields) {
        const x = rec[f.name];
        if (x !== undefined) writeField(b, off + f.off, f, x);
      }
    },
  };
}

function u16le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function u16be(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function u32be(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function readField(b: Uint8Array, o: number, f: Field, sname: string): unknown {
  switch (f.kind) {
    case 'u8': return b[o]!;
    case 'u16lsb': return u16le(b, o);
    case 'u16msb': return u16be(b, o);
    case 'u32lsb': return u32le(b, o);
    case 'u32msb': return u32be(b, o);
    case 'u16both': {
      const l = u16le(b, o), m = u16be(b, o + 2);
      if (l !== m) throw kerr('EIO', `cd9660: ${sname}: ${f.name}: both-endian copies disagree (${l} / ${m})`);
      return l;
    }
    case 'u32both': {
      const l = u32le(b, o), m = u32be(b, o + 4);
      if (l !== m) throw kerr('EIO', `cd9660: ${sname}: ${f.name}: both-endian copies disagree (${l} / ${m})`);
      return l;
    }
    case 'str': {
      let end = o + f.len;
      while (end > o && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
      let s = '';
      for (let i = o; i < end; i++) s += String.fromCharCode(b[i]!);
      return s;
    }
    case 'bytes': return b.subarray(o, o + f.len);
    case 'date7': return decodeDate7(b, o);
    case 'date17': return decodeDate17(b, o);
  }
}

function writeField(b: Uint8Array, o: number, f: Field, x: unknown): void {
  const n = typeof x === 'number' ? x : 0;
  switch (f.kind) {
    case 'u8': b[o] = n & 0xff; return;
    case 'u16lsb': b[o] = n & 0xff; b[o + 1] = (n >>> 8) & 0xff; return;
    case 'u16msb': b[o] = (n >>> 8) & 0xff; b[o + 1] = n & 0xff; return;
    case 'u32lsb': put32le(b, o, n); return;
    case 'u32msb': put32be(b, o, n); return;
    case 'u16both':
      b[o] = n & 0xff; b[o + 1] = (n >>> 8) & 0xff; b[o + 2] = (n >>> 8) & 0xff; b[o + 3] = n & 0xff;
      return;
    case 'u32both': put32le(b, o, n); put32be(b, o + 4, n); return;
    case 'str': {
      const s = String(x);
      for (let i = 0; i < f.len; i++) b[o + i] = i < s.length ? s.charCodeAt(i) & 0xff : 0x20;
      return;
    }
    case 'bytes': b.set((x as Uint8Array).subarray(0, f.len), o); return;
    case 'date7': encodeDate7(x as Timespec, b, o); return;
    case 'date17': encodeDate17(x as Timespec, b, o); return;
  }
}

function put32le(b: Uint8Array, o: number, n: number): void {
  b[o] = n & 0xff; b[o + 1] = (n >>> 8) & 0xff; b[o + 2] = (n >>> 16) & 0xff; b[o + 3] = (n >>> 24) & 0xff;
}
function put32be(b: Uint8Array, o: number, n: number): void {
  b[o] = (n >>> 24) & 0xff; b[o + 1] = (n >>> 16) & 0xff; b[o + 2] = (n >>> 8) & 0xff; b[o + 3] = n & 0xff;
}

/** Seconds since the epoch of a broken-down time, corrected by a GMT offset in 15-minute units (signed). */
function toEpoch(y: number, mo: number, d: number, h: number, mi: number, s: number, gmtoff: number): number {
  const off = gmtoff > 127 ? gmtoff - 256 : gmtoff;
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000 - off * 15 * 60;
}

/** ECMA-119 §9.1.5: years since 1900, month, day, hour, minute, second, GMT offset. All-zero means "not specified". */
export function decodeDate7(b: Uint8Array, o: number): Timespec {
  if (b[o] === 0 && b[o + 1] === 0 && b[o + 2] === 0) return { sec: 0, nsec: 0 };
  const sec = toEpoch(1900 + b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!, b[o + 4]!, b[o + 5]!, b[o + 6]!);
  return Number.isFinite(sec) ? { sec, nsec: 0 } : { sec: 0, nsec: 0 };
}

export function encodeDate7(t: Timespec, b: Uint8Array, o: number): void {
  const d = new Date(t.sec * 1000);
  const y = d.getUTCFullYear() - 1900;
  if (!Number.isFinite(y) || y < 0 || y > 255) { b.fill(0, o, o + 7); return; }
  b[o] = y; b[o + 1] = d.getUTCMonth() + 1; b[o + 2] = d.getUTCDate();
  b[o + 3] = d.getUTCHours(); b[o + 4] = d.getUTCMinutes(); b[o + 5] = d.getUTCSeconds(); b[o + 6] = 0;
}

/** ECMA-119 §8.4.26.1: "YYYYMMDDHHMMSScc" digits and a GMT offset byte. All '0' digits means "not specified". */
export function decodeDate17(b: Uint8Array, o: number): Timespec {
  const num = (i: number, n: number): number => {
    let v = 0;
    for (let k = 0; k < n; k++) {
      const c = b[o + i + k]! - 0x30;
      if (c < 0 || c > 9) return NaN;
      v = v * 10 + c;
    }
    return v;
  };
  const y = num(0, 4);
  if (!(y > 0)) return { sec: 0, nsec: 0 };
  const sec = toEpoch(y, num(4, 2), num(6, 2), num(8, 2), num(10, 2), num(12, 2), b[o + 16]!);
  const cs = num(14, 2);
  if (!Number.isFinite(sec)) return { sec: 0, nsec: 0 };
  return { sec, nsec: Number.isFinite(cs) ? cs * 10_000_000 : 0 };
}

export function encodeDate17(t: Timespec, b: Uint8Array, o: number): void {
  const d = new Date(t.sec * 1000);
  const p = (n: number, w: number): string => String(n).padStart(w, '0');
  const s = p(d.getUTCFullYear(), 4) + p(d.getUTCMonth() + 1, 2) + p(d.getUTCDate(), 2) + p(d.getUTCHours(), 2) +
    p(d.getUTCMinutes(), 2) + p(d.getUTCSeconds(), 2) + p(Math.floor(t.nsec / 10_000_000), 2);
  for (let i = 0; i < 16; i++) b[o + i] = s.charCodeAt(i);
  b[o + 16] = 0;
}

// ---------------------------------------------------------------------------
// ECMA-119 structures

export const SECTOR = 2048;
/** §6.2.1: the system area is the first 16 logical sectors; the volume descriptor set starts after it. */
export const VD_START = 16;

/** Volume descriptor types (§8.1.1). */
export const VD_BOOT = 0, VD_PRIMARY = 1, VD_SUPPLEMENTARY = 2, VD_PARTITION = 3, VD_TERMINATOR = 255;

/** §8.1: the header every volume descriptor starts with. */
export const VolumeDescriptorHeader = defineStruct('volume descriptor', 7, [
  { off: 0, len: 1, kind: 'u8', name: 'type' },
  { off: 1, len: 5, kind: 'str', name: 'id' }, // "CD001"
  { off: 6, len: 1, kind: 'u8', name: 'version' },
] as const);

/**
 * §8.4 Primary and §8.5 Supplementary Volume Descriptor (same layout; the SVD's
 * flags and escape sequences are reserved in the PVD). Joliet marks its SVD
 * with escape sequences %/@, %/C or %/E (UCS-2 levels 1–3).
 */
export const VolumeDescriptor = defineStruct('primary volume descriptor', SECTOR, [
  { off: 0, len: 1, kind: 'u8', name: 'type' },
  { off: 1, len: 5, kind: 'str', name: 'id' },
  { off: 6, len: 1, kind: 'u8', name: 'version' },
  { off: 7, len: 1, kind: 'u8', name: 'flags' },
  { off: 8, len: 32, kind: 'bytes', name: 'systemId' },
  { off: 40, len: 32, kind: 'bytes', name: 'volumeId' },
  { off: 80, len: 8, kind: 'u32both', name: 'volumeSpaceSize' }, // logical blocks
  { off: 88, len: 32, kind: 'bytes', name: 'escapes' },
  { off: 120, len: 4, kind: 'u16both', name: 'volumeSetSize' },
  { off: 124, len: 4, kind: 'u16both', name: 'volumeSequenceNumber' },
  { off: 128, len: 4, kind: 'u16both', name: 'logicalBlockSize' },
  { off: 132, len: 8, kind: 'u32both', name: 'pathTableSize' },
  { off: 140, len: 4, kind: 'u32lsb', name: 'lPathTable' },
  { off: 144, len: 4, kind: 'u32lsb', name: 'lPathTableOpt' },
  { off: 148, len: 4, kind: 'u32msb', name: 'mPathTable' },
  { off: 152, len: 4, kind: 'u32msb', name: 'mPathTableOpt' },
  { off: 156, len: 34, kind: 'bytes', name: 'rootRecord' },
  { off: 190, len: 128, kind: 'bytes', name: 'volumeSetId' },
  { off: 318, len: 128, kind: 'bytes', name: 'publisherId' },
  { off: 446, len: 128, kind: 'bytes', name: 'preparerId' },
  { off: 574, len: 128, kind: 'bytes', name: 'applicationId' },
  { off: 702, len: 37, kind: 'bytes', name: 'copyrightFileId' },
  { off: 739, len: 37, kind: 'bytes', name: 'abstractFileId' },
  { off: 776, len: 37, kind: 'bytes', name: 'bibliographicFileId' },
  { off: 813, len: 17, kind: 'date17', name: 'creationTime' },
  { off: 830, len: 17, kind: 'date17', name: 'modificationTime' },
  { off: 847, len: 17, kind: 'date17', name: 'expirationTime' },
  { off: 864, len: 17, kind: 'date17', name: 'effectiveTime' },
  { off: 881, len: 1, kind: 'u8', name: 'fileStructureVersion' },
] as const);

/** §9.1 Directory Record; the file identifier (length at 32) follows at 33, padded to even, then the system use area. */
export const DirectoryRecord = defineStruct('directory record', 33, [
  { off: 0, len: 1, kind: 'u8', name: 'length' },
  { off: 1, len: 1, kind: 'u8', name: 'xarLength' }, // extended attribute record, in logical blocks before the data
  { off: 2, len: 8, kind: 'u32both', name: 'extent' },
  { off: 10, len: 8, kind: 'u32both', name: 'dataLength' },
  { off: 18, len: 7, kind: 'date7', name: 'recorded' },
  { off: 25, len: 1, kind: 'u8', name: 'flags' },
  { off: 26, len: 1, kind: 'u8', name: 'unitSize' }, // interleaved files: blocks per file unit
  { off: 27, len: 1, kind: 'u8', name: 'gapSize' }, // interleaved files: blocks skipped between units
  { off: 28, len: 4, kind: 'u16both', name: 'volumeSequenceNumber' },
  { off: 32, len: 1, kind: 'u8', name: 'nameLength' },
] as const);

/** §9.1.6 file flags. */
export const FL_HIDDEN = 0x01, FL_DIRECTORY = 0x02, FL_ASSOCIATED = 0x04, FL_RECORD = 0x08, FL_PROTECTION = 0x10, FL_MULTIEXTENT = 0x80;

/** §9.4 Path Table Record (L table little-endian, M table big-endian); the identifier follows at 8, padded to even. */
export const PathTableRecordL = defineStruct('path table record', 8, [
  { off: 0, len: 1, kind: 'u8', name: 'nameLength' },
  { off: 1, len: 1, kind: 'u8', name: 'xarLength' },
  { off: 2, len: 4, kind: 'u32lsb', name: 'extent' },
  { off: 6, len: 2, kind: 'u16lsb', name: 'parent' },
] as const);
export const PathTableRecordM = defineStruct('path table record', 8, [
  { off: 0, len: 1, kind: 'u8', name: 'nameLength' },
  { off: 1, len: 1, kind: 'u8', name: 'xarLength' },
  { off: 2, len: 4, kind: 'u32msb', name: 'extent' },
  { off: 6, len: 2, kind: 'u16msb', name: 'parent' },
] as const);

// ---------------------------------------------------------------------------
// SUSP (IEEE P1281, "System Use Sharing Protocol") and RRIP (IEEE P1282)

/** SUSP §4.1: every system use entry starts with a signature, its length and a version. */
export const SuspHeader = defineStruct('SUSP entry', 4, [
  { off: 0, len: 2, kind: 'str', name: 'sig' },
  { off: 2, len: 1, kind: 'u8', name: 'length' },
  { off: 3, len: 1, kind: 'u8', name: 'version' },
] as const);

/** SUSP §5.1 CE: continuation area (block, offset in it, length). */
export const SuspCE = defineStruct('SUSP CE entry', 28, [
  { off: 4, len: 8, kind: 'u32both', name: 'block' },
  { off: 12, len: 8, kind: 'u32both', name: 'offset' },
  { off: 20, len: 8, kind: 'u32both', name: 'length' },
] as const);

/** SUSP §5.3 SP: in the first record of the root directory; LEN_SKP bytes precede SUSP entries in every other record. */
export const SuspSP = defineStruct('SUSP SP entry', 7, [
  { off: 4, len: 1, kind: 'u8', name: 'check1' }, // 0xBE
  { off: 5, len: 1, kind: 'u8', name: 'check2' }, // 0xEF
  { off: 6, len: 1, kind: 'u8', name: 'skip' },
] as const);

/** SUSP §5.5 ER: extension reference (identifier, descriptor, source follow at 8). */
export const SuspER = defineStruct('SUSP ER entry', 8, [
  { off: 4, len: 1, kind: 'u8', name: 'idLength' },
  { off: 5, len: 1, kind: 'u8', name: 'descLength' },
  { off: 6, len: 1, kind: 'u8', name: 'srcLength' },
  { off: 7, len: 1, kind: 'u8', name: 'extVersion' },
] as const);

/** RRIP §4.1.1 PX: POSIX attributes; RRIP 1.12 adds the file serial number (length 44 instead of 36). */
export const RripPX = defineStruct('RRIP PX entry', 36, [
  { off: 4, len: 8, kind: 'u32both', name: 'mode' },
  { off: 12, len: 8, kind: 'u32both', name: 'nlink' },
  { off: 20, len: 8, kind: 'u32both', name: 'uid' },
  { off: 28, len: 8, kind: 'u32both', name: 'gid' },
] as const);
export const RripPXIno = defineStruct('RRIP PX entry', 44, [
  { off: 36, len: 8, kind: 'u32both', name: 'ino' },
] as const);

/** RRIP §4.1.2 PN: device number, high and low 32 bits. */
export const RripPN = defineStruct('RRIP PN entry', 20, [
  { off: 4, len: 8, kind: 'u32both', name: 'high' },
  { off: 12, len: 8, kind: 'u32both', name: 'low' },
] as const);

/** RRIP §4.1.3 SL: symbolic link; component records (flags, length, bytes) follow at 5. */
export const RripSL = defineStruct('RRIP SL entry', 5, [
  { off: 4, len: 1, kind: 'u8', name: 'flags' }, // 1: continued in the next SL
] as const);
export const SL_CONTINUE = 0x01, SLC_CONTINUE = 0x01, SLC_CURRENT = 0x02, SLC_PARENT = 0x04, SLC_ROOT = 0x08;

/** RRIP §4.1.4 NM: alternate name; the name bytes follow at 5. */
export const RripNM = defineStruct('RRIP NM entry', 5, [
  { off: 4, len: 1, kind: 'u8', name: 'flags' },
] as const);
export const NM_CONTINUE = 0x01, NM_CURRENT = 0x02, NM_PARENT = 0x04;

/** RRIP §4.1.5 CL (child link) and PL (parent link): deep-directory relocation. RE (§4.1.5.3) marks the relocated copy. */
export const RripLink = defineStruct('RRIP CL/PL entry', 12, [
  { off: 4, len: 8, kind: 'u32both', name: 'location' },
] as const);

/** RRIP §4.1.6 TF: time stamps; which ones follow at 5, and their form (7-byte or 17-byte), is in the flags. */
export const RripTF = defineStruct('RRIP TF entry', 5, [
  { off: 4, len: 1, kind: 'u8', name: 'flags' },
] as const);
export const TF_CREATION = 0x01, TF_MODIFY = 0x02, TF_ACCESS = 0x04, TF_ATTRIBUTES = 0x08, TF_BACKUP = 0x10,
  TF_EXPIRATION = 0x20, TF_EFFECTIVE = 0x40, TF_LONG_FORM = 0x80;

/**
 * ZF (zisofs, from the Linux zisofs tools, not in RRIP itself): the file's data is zisofs-compressed.
 * Algorithm "pz", the zisofs header size in 4-byte units, log2 of the block size, and the real size.
 */
export const RripZF = defineStruct('RRIP ZF entry', 16, [
  { off: 4, len: 2, kind: 'str', name: 'algorithm' },
  { off: 6, len: 1, kind: 'u8', name: 'headerSize' },
  { off: 7, len: 1, kind: 'u8', name: 'blockLog2' },
  { off: 8, len: 8, kind: 'u32both', name: 'size' },
] as const);

/** The zisofs file header at the start of a compressed file's data (little-endian). */
export const ZisofsHeader = defineStruct('zisofs header', 16, [
  { off: 0, len: 8, kind: 'bytes', name: 'magic' }, // 37 E4 53 96 C9 DB D6 07
  { off: 8, len: 4, kind: 'u32lsb', name: 'size' },
  { off: 12, len: 1, kind: 'u8', name: 'headerSize' }, // in 4-byte units: 4
  { off: 13, len: 1, kind: 'u8', name: 'blockLog2' }, // 15, 16 or 17
] as const);
export const ZISOFS_MAGIC = [0x37, 0xe4, 0x53, 0x96, 0xc9, 0xdb, 0xd6, 0x07];
