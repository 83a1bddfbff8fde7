/**
 * How `rump` shows things: ls -l mode strings, times, sizes, stat(1) text, and
 * the JSON shapes of --json (stable field names, times as ISO strings).
 */

import type { StatVfs, Timespec } from '../vfs/types.js';
import type { VolumeStats } from '../ukfs/index.js';

const TYPE_CHAR = new Map([['dir', 'd'], ['lnk', 'l'], ['blk', 'b'], ['chr', 'c'], ['fifo', 'p'], ['sock', 's'], ['reg', '-']]);

/** `drwxr-xr-x`, with s/S/t/T as ls(1) shows setuid, setgid and sticky. */
export function modeString(st: { mode: number; type: string }): string {
  const m = st.mode;
  const bit = (b: number, c: string) => (m & b ? c : '-');
  const x = (xb: number, sb: number, on: string, off: string) => (m & sb ? (m & xb ? on : off) : m & xb ? 'x' : '-');
  return (
    (TYPE_CHAR.get(st.type) ?? '?') +
    bit(0o400, 'r') + bit(0o200, 'w') + x(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + x(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + x(0o001, 0o1000, 't', 'T')
  );
}

export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `2024-05-01 12:34` in UTC: listings that do not depend on the host's time zone. */
export function shortTime(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '????-??-?? ??:??';
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
}

/** `2024-05-01 12:34:56.123456789 +0000`, as stat(1) prints times. */
export function fullTime(t: Timespec): string {
  const d = new Date(t.sec * 1000);
  if (Number.isNaN(d.getTime())) return `@${t.sec}.${t.nsec}`;
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${String(t.nsec).padStart(9, '0')} +0000`;
}

export function isoTime(t: Timespec): string {
  const d = new Date(t.sec * 1000 + Math.floor(t.nsec / 1e6));
  return Number.isNaN(d.getTime()) ? String(t.sec) : d.toISOString();
}

/** 1.5K, 64M, 2.0G (powers of 1024, as df -h). */
export function humanSize(n: number): string {
  const units = ['', 'K', 'M', 'G', 'T', 'P'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? String(n) : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

const TYPE_WORD = new Map([
  ['reg', 'regular file'], ['dir', 'directory'], ['lnk', 'symbolic link'], ['blk', 'block special file'],
  ['chr', 'character special file'], ['fifo', 'fifo'], ['sock', 'socket'],
]);

export function typeWord(type: string, size: number): string {
  if (type === 'reg' && size === 0) return 'regular empty file';
  return TYPE_WORD.get(type) ?? type;
}

/** stat(1)'s default text. */
export function statText(name: string, st: VolumeStats, target?: string): string {
  const t = st.type;
  const lines = [
    `  File: ${name}${target !== undefined ? ` -> ${target}` : ''}`,
    `  Size: ${String(st.size).padEnd(15)} Blocks: ${String(st.blocks).padEnd(10)} IO Block: ${String(st.blksize).padEnd(6)} ${typeWord(t, st.size)}`,
    `Device: ${String(st.dev).padEnd(15)} Inode: ${String(st.ino).padEnd(11)} Links: ${st.nlink}${t === 'blk' || t === 'chr' ? `     Device type: ${(st.rdev >> 8) & 0xfff},${st.rdev & 0xff}` : ''}`,
    `Access: (${octal(st.mode)}/${modeString(st)})  Uid: (${String(st.uid).padStart(5)})   Gid: (${String(st.gid).padStart(5)})`,
    `Access: ${fullTime(st.atimespec)}`,
    `Modify: ${fullTime(st.mtimespec)}`,
    `Change: ${fullTime(st.ctimespec)}`,
    ` Birth: ${st.birthtimespec ? fullTime(st.birthtimespec) : '-'}`,
  ];
  return lines.join('\n') + '\n';
}

/** The --json shape of one file. */
export function statJson(path: string, st: VolumeStats, target?: string): Record<string, unknown> {
  const o: Record<string, unknown> = {
    path,
    type: st.type,
    mode: octal(st.mode),
    perm: modeString(st),
    ino: st.ino,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    blocks: st.blocks,
    blksize: st.blksize,
    rdev: st.rdev,
    atime: isoTime(st.atimespec),
    mtime: isoTime(st.mtimespec),
    ctime: isoTime(st.ctimespec),
  };
  if (st.birthtimespec) o['birthtime'] = isoTime(st.birthtimespec);
  if (target !== undefined) o['target'] = target;
  return o;
}

export function dfJson(name: string, type: string, s: StatVfs): Record<string, unknown> {
  const total = s.blocks * s.frsize;
  const free = s.bfree * s.frsize;
  const avail = s.bavail * s.frsize;
  return { filesystem: name, type, size: total, used: total - free, available: avail, blockSize: s.frsize, files: s.files, filesFree: s.ffree, nameMax: s.namemax };
}

/** Left/right-aligned columns: `right` marks numeric columns. */
export function columns(rows: string[][], right: boolean[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' '))
    .join('\n') + (rows.length ? '\n' : '');
}
