/**
 * The msdosfs component (NetBSD's rumpfs_msdos): FAT12, FAT16 and FAT32 with VFAT long names, read and
 * written, on a whole device or the first FAT partition of an MBR disk.
 *
 * Mount options (as NetBSD's mount_msdos -u -g -m -M): uid=N, gid=N, mask=OOO (files), dirmask=OOO
 * (directories), tz=MINUTES (FAT keeps local time without a zone; times are taken as UTC shifted by
 * this many minutes east, default 0).
 */

import type { BlockDevice, FileSystemType, FsCapabilities, KernelServices, MountOptions, NewfsOptions, ProbeResult } from '../../vfs/types.js';
import { kerr } from '../../kern/error.js';
import { findVolume, type Geometry } from './bootsect.js';
import {
  ATTR_DIRECTORY, ATTR_LONG_NAME, ATTR_LONG_NAME_MASK, ATTR_VOLUME_ID, DIRENT_SIZE, MAX_FILE_SIZE, SLOT_END, SLOT_FREE, cp437Decode,
} from './format.js';
import { newfsMsdos } from './newfs.js';
import { MsdosMount } from './vfsops.js';

export const msdosCapabilities: FsCapabilities = {
  symlinks: false,
  hardlinks: false,
  permissions: false,
  specialFiles: false,
  sparse: false,
  xattr: false,
  timeResolutionNs: 2_000_000_000,
  atime: false,
  caseInsensitive: true,
  nameMax: 255,
  maxFileSize: MAX_FILE_SIZE,
};

/**
 * The label Windows and mtools show: the volume-ID entry in the root directory's first cluster (or first
 * sectors of the fixed root), which takes precedence over the boot sector's copy.
 */
async function rootLabel(dev: BlockDevice, g: Geometry): Promise<string | undefined> {
  const len = g.type === 32 ? g.clusterSize : Math.min(g.rootBytes, 16 * 1024);
  const off = g.type === 32 ? g.dataOffset + (g.rootCluster - 2) * g.clusterSize : g.rootOffset;
  if (off + len > dev.size) return undefined;
  const buf = new Uint8Array(len);
  await dev.read(buf, off);
  for (let o = 0; o + DIRENT_SIZE <= len; o += DIRENT_SIZE) {
    if (buf[o] === SLOT_END) break;
    const attr = buf[o + 11]!;
    if (buf[o] === SLOT_FREE || (attr & ATTR_LONG_NAME_MASK) === ATTR_LONG_NAME) continue;
    if ((attr & (ATTR_VOLUME_ID | ATTR_DIRECTORY)) === ATTR_VOLUME_ID) {
      let s = '';
      for (let i = 0; i < 11; i++) s += cp437Decode(buf[o + i]!);
      return s.trimEnd();
    }
  }
  return undefined;
}

export const msdosfs: FileSystemType = {
  name: 'msdosfs',
  aliases: ['msdos', 'vfat', 'fat'],
  needsDevice: true,
  capabilities: msdosCapabilities,

  async probe(dev: BlockDevice): Promise<ProbeResult | null> {
    try {
      const found = await findVolume(dev);
      if (found === null) return null;
      const g = found.geo;
      const r: ProbeResult = { type: 'msdosfs', variant: `FAT${g.type}`, size: g.totalSectors * g.bytesPerSector };
      const label = (await rootLabel(found.dev, g)) ?? g.label;
      if (label && label !== 'NO NAME') r.label = label;
      if (g.volumeId) {
        const h = g.volumeId.toString(16).toUpperCase().padStart(8, '0');
        r.uuid = `${h.slice(0, 4)}-${h.slice(4)}`;
      }
      return r;
    } catch {
      return null;
    }
  },

  async mount(dev: BlockDevice | null, opts: MountOptions, k: KernelServices) {
    if (dev === null) throw kerr('ENOTBLK', 'msdosfs: needs a block device');
    return MsdosMount.mount(dev, opts, k);
  },

  newfs(dev: BlockDevice, opts: NewfsOptions, k: KernelServices): Promise<void> {
    return newfsMsdos(dev, opts, k);
  },
};

export default msdosfs;
