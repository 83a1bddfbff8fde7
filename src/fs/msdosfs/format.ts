/**
 * The FAT on-disk format: each structure declared once as a table (offset, width, name, meaning) after
 * Microsoft's "FAT: General Overview of On-Disk Format" (fatgen103; section numbers cited), with decode and
 * encode derived from the table; plus the pure helpers the driver and newfs share (names, checksums, dates).
 */

import { kerr } from '../../kern/error.js';

/** One field of an on-disk structure: little-endian unsigned integers of 1, 2 or 4 bytes, or raw bytes. */
export interface Field {
  readonly off: number;
  readonly width: number;
  readonly kind: 'u' | 'bytes';
  readonly meaning: string;
}

export type Layout = Readonly<Record<string, Field>>;

const u = (off: number, width: number, meaning: string): Field & { kind: 'u' } => ({ off, width, kind: 'u', meaning });
const b = (off: number, width: number, meaning: string): Field & { kind: 'bytes' } => ({ off, width, kind: 'bytes', meaning });

/** Decoded value of a layout: numbers for integer fields, views (not copies) for byte fields. */
export type Decoded<L extends Layout> = { [K in keyof L]: L[K]['kind'] extends 'u' ? number : Uint8Array };

/** Decodes the structure at `off` of `buf`; byte fields are subarrays of `buf`. */
export function decode<L extends Layout>(layout: L, buf: Uint8Array, off = 0): Decoded<L> {
  const out: Record<string, number | Uint8Array> = {};
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const [name, f] of Object.entries(layout)) {
    const p = off + f.off;
    if (f.kind === 'bytes') out[name] = buf.subarray(p, p + f.width);
    else if (f.width === 1) out[name] = dv.getUint8(p);
    else if (f.width === 2) out[name] = dv.getUint16(p, true);
    else out[name] = dv.getUint32(p, true);
  }
  return out as Decoded<L>;
}

/** Writes the given fields of a structure at `off`; absent fields are left as they are. */
export function encode<L extends Layout>(layout: L, buf: Uint8Array, off: number, values: { [K in keyof L]?: number | Uint8Array }): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const [name, v] of Object.entries(values)) {
    const f = layout[name];
    if (f === undefined || v === undefined) continue;
    const p = off + f.off;
    if (f.kind === 'bytes') {
      const src = v as Uint8Array;
      buf.fill(0x20, p, p + f.width);
      buf.set(src.subarray(0, f.width), p);
    } else if (f.width === 1) dv.setUint8(p, v as number);
    else if (f.width === 2) dv.setUint16(p, v as number, true);
    else dv.setUint32(p, (v as number) >>> 0, true);
  }
}

/** Boot sector and BIOS Parameter Block common to all variants (fatgen103 §3.1). */
export const BPB = {
  jmpBoot: b(0, 3, 'x86 jump to boot code: EB xx 90 or E9 xx xx'),
  oemName: b(3, 8, 'name of the formatting system'),
  bytsPerSec: u(11, 2, 'bytes per sector: 512, 1024, 2048 or 4096'),
  secPerClus: u(13, 1, 'sectors per cluster: a power of two, 1..128'),
  rsvdSecCnt: u(14, 2, 'reserved sectors before the first FAT (boot sector included); never 0'),
  numFATs: u(16, 1, 'copies of the FAT, usually 2'),
  rootEntCnt: u(17, 2, 'entries in the fixed root directory (FAT12/16); 0 on FAT32'),
  totSec16: u(19, 2, 'total sectors when < 65536, else 0'),
  media: u(21, 1, 'media descriptor, also in the low byte of FAT[0]'),
  fatSz16: u(22, 2, 'sectors per FAT (FAT12/16); 0 on FAT32'),
  secPerTrk: u(24, 2, 'geometry for int 13h'),
  numHeads: u(26, 2, 'geometry for int 13h'),
  hiddSec: u(28, 4, 'sectors before this partition'),
  totSec32: u(32, 4, 'total sectors when totSec16 is 0'),
} as const satisfies Layout;

/** Extended BPB of FAT12/16, from offset 36 (fatgen103 §3.2). */
export const BPB16 = {
  drvNum: u(36, 1, 'int 13h drive number'),
  reserved1: u(37, 1, 'Windows NT: bit 0 = volume dirty (Linux and dosfstools use it too)'),
  bootSig: u(38, 1, '0x29: the next three fields are present'),
  volID: u(39, 4, 'volume serial number'),
  volLab: b(43, 11, 'volume label, space padded'),
  filSysType: b(54, 8, 'informational "FAT12   " / "FAT16   "'),
} as const satisfies Layout;

/** Extended BPB of FAT32, from offset 36 (fatgen103 §3.3). */
export const BPB32 = {
  fatSz32: u(36, 4, 'sectors per FAT'),
  extFlags: u(40, 2, 'bit 7: only one FAT active (bits 0-3 name it); else all FATs mirrored'),
  fsVer: u(42, 2, 'version, must be 0.0'),
  rootClus: u(44, 4, 'first cluster of the root directory'),
  fsInfo: u(48, 2, 'sector of the FSInfo structure'),
  bkBootSec: u(50, 2, 'sector of the boot sector backup (6), or 0'),
  reserved: b(52, 12, 'zero'),
  drvNum: u(64, 1, 'int 13h drive number'),
  reserved1: u(65, 1, 'Windows NT: bit 0 = volume dirty'),
  bootSig: u(66, 1, '0x29: the next three fields are present'),
  volID: u(67, 4, 'volume serial number'),
  volLab: b(71, 11, 'volume label, space padded'),
  filSysType: b(82, 8, 'informational "FAT32   "'),
} as const satisfies Layout;

/** Boot sector signature at 510 (fatgen103 §3.1, "Signature_word"). */
export const BOOT_SIG_OFF = 510;

/** FAT32 FSInfo sector (fatgen103 §5): hints only; never trusted without checking. */
export const FSINFO = {
  leadSig: u(0, 4, '0x41615252 "RRaA"'),
  reserved1: b(4, 480, 'zero'),
  strucSig: u(484, 4, '0x61417272 "rrAa"'),
  freeCount: u(488, 4, 'free clusters, 0xFFFFFFFF if unknown'),
  nxtFree: u(492, 4, 'where to start looking for a free cluster, 0xFFFFFFFF if unknown'),
  reserved2: b(496, 12, 'zero'),
  trailSig: u(508, 4, '0xAA550000'),
} as const satisfies Layout;
export const FSI_LEAD = 0x41615252;
export const FSI_STRUC = 0x61417272;
export const FSI_TRAIL = 0xaa550000;

/** A 32-byte short directory entry (fatgen103 §6). */
export const DIRENT = {
  name: b(0, 11, '8.3 name, space padded; name[0] 0xE5 = free, 0x00 = free and last, 0x05 = a real 0xE5'),
  attr: u(11, 1, 'ATTR_* bits'),
  ntRes: u(12, 1, 'Windows NT: 0x08 base is lower case, 0x10 extension is lower case'),
  crtTimeTenth: u(13, 1, 'creation time, count of 10 ms units 0..199'),
  crtTime: u(14, 2, 'creation time (2 s granularity)'),
  crtDate: u(16, 2, 'creation date'),
  lstAccDate: u(18, 2, 'last access date'),
  fstClusHI: u(20, 2, 'high 16 bits of the first cluster (FAT32)'),
  wrtTime: u(22, 2, 'last write time'),
  wrtDate: u(24, 2, 'last write date'),
  fstClusLO: u(26, 2, 'low 16 bits of the first cluster'),
  fileSize: u(28, 4, 'size in bytes; 0 for directories'),
} as const satisfies Layout;

/** A 32-byte long-name entry (fatgen103 §7): 13 UTF-16 units of the name, stored last part first. */
export const LFNENT = {
  ord: u(0, 1, 'sequence number 1..20; 0x40 marks the last (first stored) entry'),
  name1: b(1, 10, 'characters 1-5'),
  attr: u(11, 1, 'ATTR_LONG_NAME (0x0F)'),
  type: u(12, 1, 'zero'),
  chksum: u(13, 1, 'checksum of the short name this long name belongs to'),
  name2: b(14, 12, 'characters 6-11'),
  fstClusLO: u(26, 2, 'zero'),
  name3: b(28, 4, 'characters 12-13'),
} as const satisfies Layout;

export const DIRENT_SIZE = 32;
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LONG_NAME = 0x0f;
export const ATTR_LONG_NAME_MASK = 0x3f;
export const NT_LOWER_BASE = 0x08;
export const NT_LOWER_EXT = 0x10;
export const SLOT_FREE = 0xe5;
export const SLOT_END = 0x00;
export const LFN_LAST = 0x40;
export const LFN_CHARS = 13;
/** Byte offsets in an LFN entry of its 13 UTF-16 units (name1, name2, name3). */
export const LFN_CHAR_OFFS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30] as const;
/** A directory holds at most 65536 entries (fatgen103 §6: "a directory may not be larger than 65536 32-byte entries"). */
export const MAX_DIR_ENTRIES = 65536;
export const MAX_DIR_BYTES = MAX_DIR_ENTRIES * DIRENT_SIZE;
/** Longest long name in UTF-16 units (fatgen103 §7). */
export const MAX_LFN = 255;
export const MAX_FILE_SIZE = 0xffffffff;

/** Cluster-count thresholds that decide the FAT type (fatgen103 §3.5). */
export const FAT12_MAX_CLUSTERS = 4084;
export const FAT16_MAX_CLUSTERS = 65524;
/** FAT32 entries are 28 bits; values from 0x0FFFFFF7 are bad/end markers. */
export const FAT32_MAX_CLUSTERS = 0x0ffffff5 - 2;

/** The checksum of an 11-byte short name that ties LFN entries to it (fatgen103 §7, ChkSum). */
export function shortNameChecksum(name: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + name[i]!) & 0xff;
  return sum;
}

/** Code page 437, bytes 0x80-0xFF, for short names (the OEM code page dosfstools and mtools default to). */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀' +
  'αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
const CP437_ENCODE = new Map<string, number>();
for (let i = 0; i < 128; i++) CP437_ENCODE.set(CP437_HIGH[i]!, 0x80 + i);

export function cp437Decode(byte: number): string {
  return byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80]!;
}

/** The CP437 byte for a character, or undefined when it has none. */
export function cp437Encode(ch: string): number | undefined {
  const c = ch.charCodeAt(0);
  if (ch.length === 1 && c < 0x80) return c;
  return CP437_ENCODE.get(ch);
}

/** Characters a long name may not contain (fatgen103 §7 adds + , ; = [ ] to the long-name set only for short names). */
const LFN_FORBIDDEN = new Set(['"', '*', '/', ':', '<', '>', '?', '\\', '|']);
/** Characters not allowed in a short name beyond the long-name set. */
const SFN_EXTRA_FORBIDDEN = new Set(['+', ',', ';', '=', '[', ']', '.', ' ']);

/** ASCII characters a long name may not contain: control characters, DEL and LFN_FORBIDDEN. */
const LFN_BAD_ASCII = Uint8Array.from({ length: 128 }, (_, c) => (c < 0x20 || c === 0x7f || LFN_FORBIDDEN.has(String.fromCharCode(c)) ? 1 : 0));

/** Throws EINVAL for a name FAT cannot store: forbidden characters, control characters, or only dots and spaces. */
export function checkLongName(name: string): void {
  if (name.length === 0 || name.length > MAX_LFN) throw kerr(name.length === 0 ? 'EINVAL' : 'ENAMETOOLONG');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x80 && LFN_BAD_ASCII[c]) throw kerr('EINVAL', `msdosfs: character 0x${c.toString(16)} is not allowed in a FAT name`);
  }
  if (/^[. ]*$/.test(name)) throw kerr('EINVAL', 'msdosfs: a FAT name cannot consist only of dots and spaces');
  // Trailing dots and spaces are dropped by Windows and would make two names collide; refuse them.
  const last = name[name.length - 1];
  if (last === '.' || last === ' ') throw kerr('EINVAL', 'msdosfs: a FAT name cannot end with a dot or a space');
}

/** Upper-cases one UTF-16 unit the way FAT compares names (one unit in, one unit out). */
const foldCache = new Map<number, number>();
export function foldUnit(c: number): number {
  if (c < 0x80) return c >= 0x61 && c <= 0x7a ? c - 32 : c;
  let f = foldCache.get(c);
  if (f === undefined) {
    const up = String.fromCharCode(c).toUpperCase();
    f = up.length === 1 ? up.charCodeAt(0) : c;
    foldCache.set(c, f);
  }
  return f;
}

/** The key under which a name is compared: upper-cased unit by unit. */
export function foldName(name: string): string {
  let ascii = true;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) >= 0x80) { ascii = false; break; }
  if (ascii) return name.toUpperCase();
  let out = '';
  for (let i = 0; i < name.length; i++) out += String.fromCharCode(foldUnit(name.charCodeAt(i)));
  return out;
}

/** Decodes an 11-byte short name into "NAME.EXT", honouring the NT lower-case flags. */
export function decodeShortName(raw: Uint8Array, ntRes: number): string {
  let base = '';
  let ext = '';
  for (let i = 0; i < 8; i++) {
    let c = raw[i]!;
    if (i === 0 && c === 0x05) c = 0xe5;
    base += cp437Decode(c);
  }
  for (let i = 8; i < 11; i++) ext += cp437Decode(raw[i]!);
  base = base.replace(/ +$/, '');
  ext = ext.replace(/ +$/, '');
  if (ntRes & NT_LOWER_BASE) base = base.toLowerCase();
  if (ntRes & NT_LOWER_EXT) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}

/**
 * If `name` can be stored as a short name alone (8.3, legal characters, one case per part), the 11 bytes and
 * NT flags for it; otherwise null and the caller writes a long name.
 */
export function exactShortName(name: string): { raw: Uint8Array; ntRes: number } | null {
  if (name === '.' || name === '..') {
    const raw = new Uint8Array(11).fill(0x20);
    raw[0] = 0x2e;
    if (name === '..') raw[1] = 0x2e;
    return { raw, ntRes: 0 };
  }
  const dot = name.lastIndexOf('.');
  const base = dot < 0 ? name : name.slice(0, dot);
  const ext = dot < 0 ? '' : name.slice(dot + 1);
  if (base.length < 1 || base.length > 8 || ext.length > 3 || (dot >= 0 && ext.length === 0)) return null;
  let ntRes = 0;
  const partCase = (s: string, flag: number): boolean => {
    const up = s.toUpperCase();
    const low = s.toLowerCase();
    if (s === up) return true;
    if (s === low) {
      ntRes |= flag;
      return true;
    }
    return false;
  };
  if (!/^[A-Za-z0-9!#$%&'()\-@^_`{}~]+$/.test(base) || (ext && !/^[A-Za-z0-9!#$%&'()\-@^_`{}~]+$/.test(ext))) return null;
  if (!partCase(base, NT_LOWER_BASE) || !partCase(ext, NT_LOWER_EXT)) return null;
  const raw = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < base.length; i++) raw[i] = base.toUpperCase().charCodeAt(i);
  for (let i = 0; i < ext.length; i++) raw[8 + i] = ext.toUpperCase().charCodeAt(i);
  return { raw, ntRes };
}

/**
 * The basis of a generated short name (fatgen103 §7, "Basis-Name Generation Algorithm"): upper-cased,
 * characters without a CP437 form or illegal in short names turned into '_', leading dots and embedded
 * spaces dropped, base cut to 8 and extension (after the last dot) to 3.
 */
export function shortNameBasis(name: string): { base: number[]; ext: number[] } {
  const conv = (s: string): number[] => {
    const out: number[] = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        const b = BASIS_ASCII[c]!;
        if (b >= 0) out.push(b);
        continue;
      }
      // A surrogate pair is one character (and has no CP437 form).
      const pair = c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      const b = basisByte(pair ? s.slice(i, i + 2) : s[i]!);
      if (pair) i++;
      if (b >= 0) out.push(b);
    }
    return out;
  };
  const stripped = name.replace(/^\.+/, '');
  const dot = stripped.lastIndexOf('.');
  const base = conv(dot < 0 ? stripped : stripped.slice(0, dot)).slice(0, 8);
  const ext = conv(dot < 0 ? '' : stripped.slice(dot + 1)).slice(0, 3);
  return { base: base.length ? base : [0x5f], ext };
}

/** A character's byte in a basis name: -1 (dropped) for spaces and dots, '_' for what a short name cannot hold. */
function basisByte(ch: string): number {
  if (ch === ' ' || ch === '.') return -1;
  const up = ch.toUpperCase();
  const byte = up.length === 1 ? cp437Encode(up) : undefined;
  if (byte === undefined || byte < 0x20 || SFN_EXTRA_FORBIDDEN.has(up) || LFN_FORBIDDEN.has(up) || byte === 0xe5) return 0x5f;
  return byte;
}

/** basisByte() of every ASCII character. */
const BASIS_ASCII = Int16Array.from({ length: 128 }, (_, c) => basisByte(String.fromCharCode(c)));

/** The 11 bytes of basis + "~n" numeric tail (fatgen103 §7, "Numeric-Tail Generation Algorithm"). */
export function shortNameWithTail(basis: { base: number[]; ext: number[] }, n: number): Uint8Array {
  const tail = `~${n}`;
  const keep = Math.min(basis.base.length, 8 - tail.length);
  const raw = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < keep; i++) raw[i] = basis.base[i]!;
  for (let i = 0; i < tail.length; i++) raw[keep + i] = tail.charCodeAt(i);
  for (let i = 0; i < basis.ext.length; i++) raw[8 + i] = basis.ext[i]!;
  return raw;
}

/** The FAT date of the last local day converted (every file made in one run shares a few days). */
let lastDay = { day: NaN, date: 0 };

/** FAT dates and times (fatgen103 §6.1): date = (year-1980)<<9 | month<<5 | day, time = hour<<11 | min<<5 | sec/2. */
export function unixToFat(sec: number, tzMinutes: number): { date: number; time: number; tenth: number } {
  const local = sec + tzMinutes * 60;
  const day = Math.floor(local / 86400);
  if (day !== lastDay.day) {
    const d = new Date(day * 86400000);
    const year = d.getUTCFullYear();
    if (Number.isNaN(year) || year < 1980) return { date: (0 << 9) | (1 << 5) | 1, time: 0, tenth: 0 };
    if (year > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29, tenth: 199 };
    lastDay = { day, date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate() };
  }
  const inDay = local - day * 86400;
  const s = Math.floor(inDay % 60);
  return {
    date: lastDay.date,
    time: (Math.floor(inDay / 3600) << 11) | (Math.floor((inDay % 3600) / 60) << 5) | (s >> 1),
    tenth: (s & 1) * 100,
  };
}

/** The last FAT date converted, and its midnight in seconds since the epoch. */
let lastDate = { date: -1, sec: 0 };

/** Seconds since the epoch for a FAT date and time (0 date = 1980-01-01); out-of-range fields are clamped. */
export function fatToUnix(date: number, time: number, tzMinutes: number): number {
  if (date !== lastDate.date) {
    const year = 1980 + (date >> 9);
    const month = Math.min(Math.max((date >> 5) & 0xf, 1), 12);
    const day = Math.min(Math.max(date & 0x1f, 1), 31);
    lastDate = { date, sec: Date.UTC(year, month - 1, day) / 1000 };
  }
  const hour = Math.min(time >> 11, 23);
  const min = Math.min((time >> 5) & 0x3f, 59);
  const sec = Math.min((time & 0x1f) * 2, 58);
  return lastDate.sec + hour * 3600 + min * 60 + sec - tzMinutes * 60;
}
