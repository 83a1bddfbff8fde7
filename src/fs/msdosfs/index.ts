/**
 * The msdosfs component (NetBSD's rumpfs_msdos): FAT12, FAT16 and FAT32 with VFAT long names, read and
 * written, on a whole device or the first FAT partition of an MBR disk.
 *
 * Mount options (as NetBSD's mount_msdos -u -g -m -M): uid=N, gid=N, mask=OOO (files), dirmask=OOO
 * (directories), tz=MINUTES (FAT keeps local time without a zone; times are taken as UTC shifted by
 * this many minutes east, default 0).
 */

import type { BlockDevice, FileSystemType, FsCapabilities, KernelServices, MountOptions, NewfsOptions, ProbeResult } from '../../vfs/types.js';
import { findVolume } from './bootsect.js';
import { MAX_FILE_SIZE } from './format.js';
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
      if (g.label && g.label !== 'NO NAME') r.label = g.label;
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
    if (dev === null) {
      const { kerr } = await import('../../kern/error.js');
      throw kerr('ENOTBLK', 'msdosfs: needs a block device');
    }
    return MsdosMount.mount(dev, opts, k);
  },

  newfs(dev: BlockDevice, opts: NewfsOptions, k: KernelServices): Promise<void> {
    return newfsMsdos(dev, opts, k);
  },
};

export default msdosfs;
