/**
 * The ffs component: NetBSD's Berkeley Fast File System, UFS1 and UFS2, in
 * either byte order (NetBSD's rumpfs_ffs). Mounting finds and checks the
 * superblock, refuses read-write on an unclean or journaled-with-pending-log
 * file system, and hands out FfsMount.
 */

import { kerr } from '../../kern/error.js';
import type { BlockDevice, FileSystemType, FsMount, KernelServices, MountOptions, NewfsOptions, ProbeResult } from '../../vfs/types.js';
import { FfsMount } from './ffs.js';
import { findSuperblock, findAlternateSuperblock, variantName, type FsGeom } from './geom.js';
import { SUPERBLOCK, FS_ISCLEAN, FS_DOWAPBL, FS_FLAGS_UPDATED, FS_44INODEFMT, SBLOCKSEARCH, SB_VOLNAME_OFF, MAXVOLLEN } from './layout.js';
import { newfs } from './newfs.js';
import { readWapbl } from './wapbl.js';

function reader(dev: BlockDevice) {
  return async (off: number, len: number): Promise<Uint8Array | null> => {
    if (off + len > dev.size) return null;
    const b = new Uint8Array(len);
    await dev.read(b, off);
    return b;
  };
}

async function locate(dev: BlockDevice) {
  return findSuperblock(reader(dev), dev.size, SBLOCKSEARCH);
}

function volname(raw: Uint8Array): string {
  const b = raw.subarray(SB_VOLNAME_OFF, SB_VOLNAME_OFF + MAXVOLLEN);
  const z = b.indexOf(0);
  return new TextDecoder().decode(z < 0 ? b : b.subarray(0, z));
}

async function mount(dev: BlockDevice | null, opts: MountOptions, k: KernelServices): Promise<FsMount> {
  if (!dev) throw kerr('ENOTBLK', 'ffs: needs a block device');
  let found = await locate(dev);
  let usingCopy = false;
  const ronly = opts.readonly || dev.readonly;
  if ('reasons' in found) {
    const reasons = found.reasons;
    // A damaged primary: a copy from a cylinder group serves a read-only mount.
    const alt = await findAlternateSuperblock(reader(dev), dev.size);
    if (!alt) throw kerr('EFTYPE', `ffs: no usable superblock on ${dev.name}${reasons.length ? ': ' + reasons.join('; ') : ''}`);
    if (!ronly) throw kerr('EROFS', `ffs: ${dev.name}: the primary superblock is damaged (${reasons.join('; ')}); mount read-only to use the copy at ${alt.at}, or repair it`);
    k.log(`ffs: ${dev.name}: primary superblock damaged, using the copy at byte ${alt.at}`);
    found = alt;
    usingCopy = true;
  }
  const { geom, raw } = found;
  const g: FsGeom = geom;
  const m0 = { replay: null as Map<number, Uint8Array> | null };
  if (g.sb.flags & FS_DOWAPBL) {
    const log = await readWapbl(dev, g);
    if (log.pending) {
      if (!ronly) {
        throw kerr('EROFS', `ffs: ${dev.name} has a non-empty WAPBL journal; mount it read-only (the log is replayed in memory) — journal writing is not supported`);
      }
      m0.replay = log.blocks;
      k.log(`ffs: ${dev.name}: replaying ${log.blocks.size} journaled blocks in memory (read-only)`);
    }
  }
  if (!ronly && !g.ufs2 && (!(g.sb.old_flags & FS_FLAGS_UPDATED) || g.sb.old_inodefmt < FS_44INODEFMT)) {
    // 4.2/4.3BSD-era UFS1 keeps rotational tables and old-format directories that this driver does not write.
    throw kerr('EROFS', `ffs: ${dev.name} is an old-format UFS1 file system (no FS_FLAGS_UPDATED or 4.2BSD inodes); it can be mounted read-only`);
  }
  if (!ronly && g.sb.clean !== FS_ISCLEAN && !opts.options.has('force')) {
    throw kerr('EROFS', `ffs: ${dev.name} is not clean (run fsck), mount read-only or with -o force`);
  }
  const m = new FfsMount(dev, g, raw, ronly, k);
  m.replay = m0.replay;
  const area = new Uint8Array(g.csbytes);
  await m.devRead(area, g.csaddr * g.fsize);
  m.alloc.loadSummary(area, usingCopy);
  if (!ronly) {
    // Mounted read-write: the file system is not clean until unmount (fs_clean cleared on disk).
    await m.writeSuper(false);
    await dev.flush();
  }
  return m;
}

async function probe(dev: BlockDevice): Promise<ProbeResult | null> {
  try {
    const found = await locate(dev);
    if ('reasons' in found) return null;
    const r: ProbeResult = { type: 'ffs', variant: variantName(found.geom), size: found.geom.size * found.geom.fsize };
    const label = volname(found.raw);
    if (label) r.label = label;
    return r;
  } catch {
    return null;
  }
}

export const ffs: FileSystemType = {
  name: 'ffs',
  aliases: ['ufs', 'ufs1', 'ufs2'],
  needsDevice: true,
  capabilities: {
    symlinks: true,
    hardlinks: true,
    permissions: true,
    specialFiles: true,
    sparse: true,
    xattr: false,
    timeResolutionNs: 1,
    atime: true,
    nameMax: 255,
  },
  probe,
  mount,
  async newfs(dev: BlockDevice, opts: NewfsOptions, k: KernelServices): Promise<void> {
    await newfs(dev, opts.options, k, opts.label);
  },
};

export default ffs;
export { SUPERBLOCK };
