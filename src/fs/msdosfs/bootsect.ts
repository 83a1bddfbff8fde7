/**
 * Reading and validating a FAT boot sector into the volume geometry the driver works with (fatgen103 §3),
 * and finding a FAT partition in an MBR when the device is a whole disk.
 */

import { kerr } from '../../kern/error.js';
import { SubDevice } from '../../dev/blockdev.js';
import type { BlockDevice } from '../../vfs/types.js';
import {
  BOOT_SIG_OFF, BPB, BPB16, BPB32, DIRENT_SIZE, FAT12_MAX_CLUSTERS, FAT16_MAX_CLUSTERS, FAT32_MAX_CLUSTERS, decode,
} from './format.js';

export interface Geometry {
  type: 12 | 16 | 32;
  bytesPerSector: number;
  sectorsPerCluster: number;
  clusterSize: number;
  reservedSectors: number;
  numFats: number;
  fatSectors: number;
  rootEntries: number;
  /** Byte offset and length of the fixed root directory (FAT12/16). */
  rootOffset: number;
  rootBytes: number;
  /** Byte offset of cluster 2. */
  dataOffset: number;
  totalSectors: number;
  clusterCount: number;
  /** FAT32: the root directory's first cluster; 0 on FAT12/16. */
  rootCluster: number;
  fsInfoSector: number;
  backupBootSector: number;
  activeFat: number;
  mirror: boolean;
  volumeId: number;
  label: string;
  /** Offset of the dirty byte (BS_Reserved1) in the boot sector. */
  dirtyByteOffset: number;
}

/** Parses the boot sector; throws `code` (EFTYPE at mount, or the caller's choice) with the reason. */
export function parseBootSector(sec: Uint8Array, devSize: number): Geometry {
  const bad = (why: string): never => {
    throw kerr('EFTYPE', `msdosfs: boot sector: ${why}`);
  };
  if (sec.length < 512) bad('device shorter than one sector');
  const bpb = decode(BPB, sec);
  const oem = String.fromCharCode(...bpb.oemName);
  if (oem === 'NTFS    ' || oem === 'EXFAT   ') bad(`${oem.trim()} volume, not FAT`);
  const jmp = bpb.jmpBoot[0];
  const sig = sec[BOOT_SIG_OFF] === 0x55 && sec[BOOT_SIG_OFF + 1] === 0xaa;
  if (jmp !== 0xeb && jmp !== 0xe9 && !sig) bad('no jump instruction and no 0x55AA signature');
  const bps = bpb.bytsPerSec;
  if (![512, 1024, 2048, 4096].includes(bps)) bad(`bytes per sector ${bps} is not 512, 1024, 2048 or 4096`);
  const spc = bpb.secPerClus;
  if (spc === 0 || (spc & (spc - 1)) !== 0 || spc > 128) bad(`sectors per cluster ${spc} is not a power of two up to 128`);
  if (bpb.rsvdSecCnt === 0) bad('no reserved sectors');
  if (bpb.numFATs === 0 || bpb.numFATs > 4) bad(`number of FATs ${bpb.numFATs} is not 1..4`);
  if (bpb.media !== 0xf0 && bpb.media < 0xf8) bad(`media descriptor 0x${bpb.media.toString(16)} is invalid`);
  const totalSectors = bpb.totSec16 !== 0 ? bpb.totSec16 : bpb.totSec32;
  if (totalSectors === 0) bad('total sector count is 0');
  const fat32Ext = decode(BPB32, sec);
  const isFat32Layout = bpb.fatSz16 === 0;
  const fatSectors = isFat32Layout ? fat32Ext.fatSz32 : bpb.fatSz16;
  if (fatSectors === 0) bad('FAT size is 0');
  const rootEntries = bpb.rootEntCnt;
  const rootSectors = Math.ceil((rootEntries * DIRENT_SIZE) / bps);
  const firstData = bpb.rsvdSecCnt + bpb.numFATs * fatSectors + rootSectors;
  if (firstData >= totalSectors) bad(`metadata (${firstData} sectors) fills the volume of ${totalSectors} sectors`);
  if (totalSectors * bps > devSize) bad(`volume of ${totalSectors} sectors is larger than the device (${devSize} bytes)`);
  const clusterCount = Math.floor((totalSectors - firstData) / spc);
  const type: 12 | 16 | 32 = clusterCount <= FAT12_MAX_CLUSTERS ? 12 : clusterCount <= FAT16_MAX_CLUSTERS ? 16 : 32;
  if (clusterCount < 1) bad('no data clusters');
  if (type === 32) {
    if (!isFat32Layout) bad(`${clusterCount} clusters need FAT32, but the BPB has a FAT12/16 FAT size`);
    if (rootEntries !== 0) bad('FAT32 volume with a fixed root directory');
    if (fat32Ext.fsVer !== 0) bad(`FAT32 version ${fat32Ext.fsVer} is not 0.0`);
    if (clusterCount > FAT32_MAX_CLUSTERS) bad(`${clusterCount} clusters exceed FAT32's limit`);
    if (fat32Ext.rootClus < 2 || fat32Ext.rootClus > clusterCount + 1) bad(`root cluster ${fat32Ext.rootClus} outside 2..${clusterCount + 1}`);
  } else {
    if (rootEntries === 0) bad(`FAT${type} volume without a root directory`);
  }
  const entryBits = type === 12 ? 12 : type;
  if (fatSectors * bps * 8 < (clusterCount + 2) * entryBits) bad(`FAT of ${fatSectors} sectors is too small for ${clusterCount} clusters`);
  const ext = type === 32 ? fat32Ext : decode(BPB16, sec);
  const hasExt = ext.bootSig === 0x29 || ext.bootSig === 0x28;
  const label = type === 32 ? decode(BPB32, sec).volLab : decode(BPB16, sec).volLab;
  const mirror = type !== 32 || (fat32Ext.extFlags & 0x80) === 0;
  const activeFat = mirror ? 0 : fat32Ext.extFlags & 0x0f;
  if (activeFat >= bpb.numFATs) bad(`active FAT ${activeFat} does not exist`);
  return {
    type,
    bytesPerSector: bps,
    sectorsPerCluster: spc,
    clusterSize: spc * bps,
    reservedSectors: bpb.rsvdSecCnt,
    numFats: bpb.numFATs,
    fatSectors,
    rootEntries: type === 32 ? 0 : rootEntries,
    rootOffset: (bpb.rsvdSecCnt + bpb.numFATs * fatSectors) * bps,
    rootBytes: rootSectors * bps,
    dataOffset: firstData * bps,
    totalSectors,
    clusterCount,
    rootCluster: type === 32 ? fat32Ext.rootClus : 0,
    fsInfoSector: type === 32 ? fat32Ext.fsInfo : 0,
    backupBootSector: type === 32 ? fat32Ext.bkBootSec : 0,
    activeFat,
    mirror,
    volumeId: hasExt ? ext.volID : 0,
    label: hasExt ? String.fromCharCode(...label).replace(/ +$/, '') : '',
    dirtyByteOffset: type === 32 ? BPB32.reserved1.off : BPB16.reserved1.off,
  };
}

/** MBR partition types that hold FAT. */
const FAT_PART_TYPES = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e]);

/**
 * The device a FAT volume lives on: `dev` itself when sector 0 is a FAT boot sector, else the first FAT
 * partition of an MBR in sector 0; null when neither.
 */
export async function findVolume(dev: BlockDevice): Promise<{ dev: BlockDevice; geo: Geometry } | null> {
  if (dev.size < 512) return null;
  const sec = new Uint8Array(512);
  await dev.read(sec, 0);
  try {
    return { dev, geo: parseBootSector(sec, dev.size) };
  } catch {
    // not a boot sector; perhaps a partition table
  }
  if (sec[510] !== 0x55 || sec[511] !== 0xaa) return null;
  const dv = new DataView(sec.buffer, sec.byteOffset, 512);
  for (let i = 0; i < 4; i++) {
    const e = 446 + i * 16;
    const type = sec[e + 4]!;
    const status = sec[e]!;
    if (!FAT_PART_TYPES.has(type) || (status !== 0 && status !== 0x80)) continue;
    const start = dv.getUint32(e + 8, true) * 512;
    const size = dv.getUint32(e + 12, true) * 512;
    if (start === 0 || size < 512 || start + size > dev.size) continue;
    const part = new SubDevice(dev, start, size, `${dev.name}p${i + 1}`);
    const psec = new Uint8Array(512);
    await part.read(psec, 0);
    try {
      return { dev: part, geo: parseBootSector(psec, part.size) };
    } catch {
      continue;
    }
  }
  return null;
}
