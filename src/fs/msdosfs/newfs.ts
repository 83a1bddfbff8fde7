/**
 * newfs for FAT (NetBSD's newfs_msdos, Linux's mkfs.fat): lays out FAT12, FAT16 or FAT32 with the type,
 * cluster size and alignment mkfs.fat (dosfstools 4.x) picks for the same size, unless told otherwise.
 *
 * Options: fat=12|16|32, spc=N (sectors per cluster), label (also NewfsOptions.label), volid=HEX.
 * Choices, after dosfstools: FAT32 from 512 MiB up (cluster size from Microsoft's table: 512 bytes up to
 * 260 MiB, 4 KiB up to 8 GiB, then 8, 16, 32 KiB); otherwise FAT12 when its cluster count fits, else
 * FAT16, starting at 2 KiB clusters and doubling until the count fits. Reserved sectors, FAT size and the
 * root directory are rounded to whole clusters so the data area is cluster-aligned (above 4 MiB).
 */

import { kerr } from '../../kern/error.js';
import type { BlockDevice, KernelServices, NewfsOptions } from '../../vfs/types.js';
import {
  ATTR_VOLUME_ID, BOOT_SIG_OFF, BPB, BPB16, BPB32, DIRENT, FAT12_MAX_CLUSTERS, FAT16_MAX_CLUSTERS, FSINFO, FSI_LEAD, FSI_STRUC,
  FSI_TRAIL, encode, unixToFat,
} from './format.js';

const SECTOR = 512;
const FAT32_MIN_CLUSTERS = FAT16_MAX_CLUSTERS + 1;

export interface FatLayout {
  type: 12 | 16 | 32;
  totalSectors: number;
  sectorsPerCluster: number;
  reservedSectors: number;
  numFats: number;
  fatSectors: number;
  rootEntries: number;
  clusterCount: number;
  media: number;
  secPerTrack: number;
  heads: number;
  driveNumber: number;
}

const cdiv = (a: number, b: number): number => Math.ceil(a / b);
const alignUp = (v: number, to: number): number => Math.ceil(v / to) * to;

/** BIOS geometry mkfs.fat records for an image of this size (informational only). */
function geometry(bytes: number): { spt: number; heads: number } {
  const mib = bytes / (1024 * 1024);
  if (mib <= 16) return { spt: 32, heads: 2 };
  if (mib <= 32) return { spt: 32, heads: 4 };
  if (mib <= 256) return { spt: 32, heads: 8 };
  if (mib <= 512) return { spt: 63, heads: 16 };
  if (mib <= 1024) return { spt: 63, heads: 32 };
  if (mib <= 2048) return { spt: 63, heads: 64 };
  if (mib <= 4096) return { spt: 63, heads: 128 };
  return { spt: 63, heads: 255 };
}

/** Chooses the layout for a device of `bytes` bytes (throws EINVAL when the type cannot fit). */
export function chooseLayout(bytes: number, want?: { fat?: 12 | 16 | 32; spc?: number }): FatLayout {
  const sectors0 = Math.floor(bytes / SECTOR);
  if (sectors0 < 64) throw kerr('EINVAL', 'msdosfs: newfs: device too small');
  if (sectors0 === 2880 && !want?.fat && !want?.spc) {
    // A 1.44 MB floppy: the standard layout.
    return { type: 12, totalSectors: 2880, sectorsPerCluster: 1, reservedSectors: 1, numFats: 2, fatSectors: 9, rootEntries: 224,
      clusterCount: 2847, media: 0xf0, secPerTrack: 18, heads: 2, driveNumber: 0 };
  }
  const geo = geometry(bytes);
  const total = Math.min(sectors0 - (sectors0 % geo.spt), 0xffffffff);
  const type0 = want?.fat ?? (bytes >= 512 * 1024 * 1024 ? 32 : undefined);
  const align = total > 8192;
  let spc: number;
  if (want?.spc) spc = want.spc;
  else if (type0 === 32) {
    const mb = cdiv(total, 2048);
    spc = mb > 32 * 1024 ? 64 : mb > 16 * 1024 ? 32 : mb > 8 * 1024 ? 16 : mb > 260 ? 8 : 1;
  } else spc = 4;
  const numFats = 2;
  // Doubling from the default, as mkfs.fat does; for a forced type that has too few clusters even at the
  // default, smaller clusters too (mkfs.fat gives up there).
  const candidates: number[] = [];
  for (let c = spc; c <= 128; c *= 2) candidates.push(c);
  if (!want?.spc && want?.fat) for (let c = spc / 2; c >= 1; c /= 2) candidates.push(c);
  for (spc of candidates) {
    const rsv = type0 === 32 ? (align ? alignUp(32, spc) : 32) : align ? alignUp(1, spc) : 1;
    const rootEntries = type0 === 32 ? 0 : align ? (alignUp(cdiv(512 * 32, SECTOR), spc) * SECTOR) / 32 : 512;
    const rootSectors = cdiv(rootEntries * 32, SECTOR);
    const tryType = (t: 12 | 16 | 32): FatLayout | null => {
      const r = t === 32 ? (align ? alignUp(32, spc) : 32) : rsv;
      const rootE = t === 32 ? 0 : rootEntries;
      const rootS = t === 32 ? 0 : rootSectors;
      const data = total - r - rootS;
      let clusters: number;
      let fatLen: number;
      if (t === 12) {
        clusters = Math.floor((2 * (data * SECTOR + numFats * 3)) / (2 * spc * SECTOR + numFats * 3));
        fatLen = cdiv(((clusters + 2) * 3 + 1) >> 1, SECTOR);
      } else if (t === 16) {
        clusters = Math.floor((data * SECTOR + numFats * 4) / (spc * SECTOR + numFats * 2));
        fatLen = cdiv((clusters + 2) * 2, SECTOR);
      } else {
        clusters = Math.floor((data * SECTOR + numFats * 8) / (spc * SECTOR + numFats * 4));
        fatLen = cdiv((clusters + 2) * 4, SECTOR);
      }
      if (align) fatLen = alignUp(fatLen, spc);
      clusters = Math.floor((data - numFats * fatLen) / spc);
      if (clusters < 1) return null;
      if (t === 12 && clusters > FAT12_MAX_CLUSTERS) return null;
      if (t === 16 && (clusters > FAT16_MAX_CLUSTERS || clusters <= FAT12_MAX_CLUSTERS)) return null;
      if (t === 32 && clusters < FAT32_MIN_CLUSTERS) return null;
      return { type: t, totalSectors: total, sectorsPerCluster: spc, reservedSectors: r, numFats, fatSectors: fatLen, rootEntries: rootE,
        clusterCount: clusters, media: 0xf8, secPerTrack: geo.spt, heads: geo.heads, driveNumber: 0x80 };
    };
    const l = type0 !== undefined ? tryType(type0) : (tryType(12) ?? tryType(16));
    if (l) return l;
  }
  throw kerr('EINVAL', `msdosfs: newfs: no FAT${want?.fat ?? '12/16'} layout fits ${bytes} bytes`);
}

function optNum(opts: NewfsOptions, name: string): number | undefined {
  const v = opts.options.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw kerr('EINVAL', `msdosfs: newfs: bad ${name}=${v}`);
  return n;
}

/** An 11-byte label field: upper-cased, CP437-safe ASCII, space padded; 'NO NAME' when empty. */
function labelBytes(label: string | undefined): Uint8Array {
  const out = new Uint8Array(11).fill(0x20);
  const s = (label ?? '').toUpperCase();
  if (s.length > 11) throw kerr('EINVAL', 'msdosfs: newfs: label longer than 11 characters');
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || '"*+,./:;<=>?[\\]|'.includes(s[i]!)) throw kerr('EINVAL', `msdosfs: newfs: label character '${s[i]}' not allowed`);
    out[i] = c;
  }
  if (s.length === 0) out.set([0x4e, 0x4f, 0x20, 0x4e, 0x41, 0x4d, 0x45]); // "NO NAME"
  return out;
}

export async function newfsMsdos(dev: BlockDevice, opts: NewfsOptions, k: KernelServices): Promise<void> {
  if (dev.readonly) throw kerr('EROFS');
  const fat = optNum(opts, 'fat');
  if (fat !== undefined && fat !== 12 && fat !== 16 && fat !== 32) throw kerr('EINVAL', `msdosfs: newfs: fat=${fat} is not 12, 16 or 32`);
  const spc = optNum(opts, 'spc');
  if (spc !== undefined && (spc < 1 || spc > 128 || (spc & (spc - 1)) !== 0)) throw kerr('EINVAL', `msdosfs: newfs: spc=${spc} is not a power of two up to 128`);
  const L = chooseLayout(dev.size, { ...(fat ? { fat: fat as 12 | 16 | 32 } : {}), ...(spc ? { spc } : {}) });
  const labelOpt = opts.label ?? opts.options.get('label');
  const label = labelBytes(labelOpt);
  let volid: number;
  const v = opts.options.get('volid');
  if (v !== undefined) {
    volid = Number.parseInt(v, 16) >>> 0;
  } else {
    const r = new Uint8Array(4);
    k.random(r);
    volid = new DataView(r.buffer).getUint32(0, true);
  }

  // Boot sector.
  const bs = new Uint8Array(SECTOR);
  const is32 = L.type === 32;
  bs.set([0xeb, is32 ? 0x58 : 0x3c, 0x90], 0);
  encode(BPB, bs, 0, {
    oemName: new TextEncoder().encode('MSWIN4.1'), bytsPerSec: SECTOR, secPerClus: L.sectorsPerCluster, rsvdSecCnt: L.reservedSectors,
    numFATs: L.numFats, rootEntCnt: L.rootEntries, totSec16: L.totalSectors < 65536 && !is32 ? L.totalSectors : 0, media: L.media,
    fatSz16: is32 ? 0 : L.fatSectors, secPerTrk: L.secPerTrack, numHeads: L.heads, hiddSec: 0,
    totSec32: L.totalSectors < 65536 && !is32 ? 0 : L.totalSectors,
  });
  const typeName = new TextEncoder().encode(`FAT${L.type}   `);
  if (is32) {
    encode(BPB32, bs, 0, {
      fatSz32: L.fatSectors, extFlags: 0, fsVer: 0, rootClus: 2, fsInfo: 1, bkBootSec: 6, reserved: new Uint8Array(12),
      drvNum: L.driveNumber, reserved1: 0, bootSig: 0x29, volID: volid, volLab: label, filSysType: typeName,
    });
  } else {
    encode(BPB16, bs, 0, { drvNum: L.driveNumber, reserved1: 0, bootSig: 0x29, volID: volid, volLab: label, filSysType: typeName });
  }
  if (is32) bs.fill(0, BPB32.reserved.off, BPB32.reserved.off + BPB32.reserved.width);
  bs[BOOT_SIG_OFF] = 0x55;
  bs[BOOT_SIG_OFF + 1] = 0xaa;

  // Zero the reserved area, the FATs and the root directory.
  const rootSectors = is32 ? L.sectorsPerCluster : Math.ceil((L.rootEntries * 32) / SECTOR);
  const metaSectors = L.reservedSectors + L.numFats * L.fatSectors + rootSectors;
  const zero = new Uint8Array(Math.min(1024 * 1024, metaSectors * SECTOR));
  for (let s = 0; s < metaSectors; s += zero.length / SECTOR) {
    const n = Math.min(zero.length / SECTOR, metaSectors - s);
    await dev.write(zero.subarray(0, n * SECTOR), s * SECTOR);
  }
  await dev.write(bs, 0);
  if (is32) {
    const fsi = new Uint8Array(SECTOR);
    encode(FSINFO, fsi, 0, { leadSig: FSI_LEAD, strucSig: FSI_STRUC, freeCount: L.clusterCount - 1, nxtFree: 2, trailSig: FSI_TRAIL });
    await dev.write(fsi, SECTOR);
    await dev.write(bs, 6 * SECTOR);
    await dev.write(fsi, 7 * SECTOR);
  }

  // The first FAT sector of each copy: media and end marks, and on FAT32 the root directory's cluster.
  const f0 = new Uint8Array(SECTOR);
  if (L.type === 12) f0.set([L.media, 0xff, 0xff]);
  else if (L.type === 16) f0.set([L.media, 0xff, 0xff, 0xff]);
  else f0.set([L.media, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f, 0xf8, 0xff, 0xff, 0x0f]);
  for (let i = 0; i < L.numFats; i++) await dev.write(f0, (L.reservedSectors + i * L.fatSectors) * SECTOR);

  // A label also lives as the first root directory entry.
  if (labelOpt) {
    const ent = new Uint8Array(SECTOR);
    const t = unixToFat(k.now().sec, 0);
    encode(DIRENT, ent, 0, { name: label, attr: ATTR_VOLUME_ID, wrtTime: t.time, wrtDate: t.date });
    const rootOff = (L.reservedSectors + L.numFats * L.fatSectors) * SECTOR;
    await dev.write(ent, rootOff);
  }
  await dev.flush();
}
