/**
 * The ext2fs component (NetBSD's rumpfs_ext2fs, Linux's ext2/ext3/ext4): one
 * FileSystemType answering to ext2, ext3 and ext4, with probe, mount (journal
 * recovery and orphan cleanup included) and the FsMount over an Ext2Fs.
 */

import type { BlockDevice } from '../../dev/blockdev.js';
import { kerr, KernelError } from '../../kern/error.js';
import type { FileSystemType, FsMount, KernelServices, MountOptions, ProbeResult, StatVfs, VnodeImpl, VnodeKey } from '../../vfs/types.js';
import { releaseInode } from './file.js';
import { Ext2Fs, ROOT_INO } from './fs.js';
import type { Inode } from './inode.js';
import { OverlayDevice, recoverJournal, resetJournal } from './journal.js';
import { COMPAT, EXT2_MAGIC, INCOMPAT, RO_COMPAT, SB, SUPERBLOCK_OFFSET } from './layout.js';
import { newfs } from './newfs.js';
import { Ext2Vnode } from './vnode.js';

function uuidString(u: Uint8Array): string {
  const h = [...u].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function variantOf(compat: number, incompat: number, ro: number): string {
  const ext4Incompat = INCOMPAT.EXTENTS | INCOMPAT.BIT64 | INCOMPAT.FLEX_BG | INCOMPAT.INLINE_DATA | INCOMPAT.META_BG | INCOMPAT.CSUM_SEED | INCOMPAT.LARGEDIR;
  const ext4Ro = RO_COMPAT.HUGE_FILE | RO_COMPAT.DIR_NLINK | RO_COMPAT.EXTRA_ISIZE | RO_COMPAT.METADATA_CSUM | RO_COMPAT.GDT_CSUM | RO_COMPAT.BIGALLOC;
  if (incompat & ext4Incompat || ro & ext4Ro) return 'ext4';
  if (compat & COMPAT.HAS_JOURNAL) return 'ext3';
  return 'ext2';
}

async function probe(dev: BlockDevice): Promise<ProbeResult | null> {
  try {
    if (dev.size < SUPERBLOCK_OFFSET + 1024) return null;
    const raw = new Uint8Array(1024);
    await dev.read(raw, SUPERBLOCK_OFFSET);
    const sb = SB.decode(new DataView(raw.buffer));
    if (sb.magic !== EXT2_MAGIC || sb.logBlockSize > 6) return null;
    const bs = 1024 << sb.logBlockSize;
    const blocks = sb.blocksCountLo + (sb.featureIncompat & INCOMPAT.BIT64 ? sb.blocksCountHi * 0x100000000 : 0);
    const nul = sb.volumeName.indexOf(0);
    const label = new TextDecoder().decode(sb.volumeName.subarray(0, nul < 0 ? 16 : nul));
    const r: ProbeResult = {
      type: 'ext2fs', variant: variantOf(sb.featureCompat, sb.featureIncompat, sb.featureRoCompat),
      uuid: uuidString(sb.uuid), size: blocks * bs,
    };
    if (label) r.label = label;
    return r;
  } catch {
    return null;
  }
}

class Ext2Mount implements FsMount {
  readonly rootKey = ROOT_INO;
  readonly nameMax = 255;
  readonly vnodes = new Map<number, Ext2Vnode>();

  constructor(readonly fs: Ext2Fs) {
    fs.liveInode = (ino) => this.vnodes.get(ino)?.ip;
  }

  get maxFileSize(): number {
    return this.fs.maxFileSize;
  }

  async vget(key: VnodeKey): Promise<VnodeImpl> {
    const now = this.vgetNow(key);
    if (now !== undefined) return now;
    return this.attach(key, await this.fs.readInode(key));
  }

  /** vget() when the inode's table block is in the buffer cache (it holds 4 to 16 inodes: usually a neighbour was loaded). */
  vgetNow(key: VnodeKey): Ext2Vnode | undefined {
    const have = this.vnodes.get(key);
    if (have) return have;
    const fs = this.fs;
    if (!Number.isSafeInteger(key) || key < 1 || key > fs.sb.inodesCount || (key < fs.firstIno && key !== ROOT_INO)) {
      throw kerr('ESTALE', `ext2fs: no file ${key}`);
    }
    const ip = fs.readInodeNow(key);
    return ip === undefined ? undefined : this.attach(key, ip);
  }

  /** The vnode of an inode just read, when it is in use. */
  private attach(key: VnodeKey, ip: Inode): Ext2Vnode {
    const fs = this.fs;
    if (ip.mode === 0 || (ip.links === 0 && ip.dtime !== 0 && fs.sb.lastOrphan === 0)) throw kerr('ESTALE', `ext2fs: inode ${key} is not in use`);
    ip.live = true;
    const vp = new Ext2Vnode(fs, ip, this.vnodes);
    this.vnodes.set(key, vp);
    return vp;
  }

  async statvfs(): Promise<StatVfs> {
    const fs = this.fs;
    const r = fs.sb.rBlocksCountLo + (fs.is64 ? fs.sb.rBlocksCountHi * 0x100000000 : 0);
    return {
      bsize: fs.bs, frsize: fs.bs, blocks: fs.blocksCount, bfree: fs.freeBlocks, bavail: Math.max(0, fs.freeBlocks - r),
      files: fs.sb.inodesCount, ffree: fs.freeInodes, favail: fs.freeInodes,
      fsid: new DataView(fs.sb.uuid.buffer).getUint32(0, true), namemax: 255,
    };
  }

  async sync(): Promise<void> {
    await this.fs.sync();
  }

  async unmount(): Promise<void> {
    await this.fs.sync();
    this.vnodes.clear();
  }
}

/** Frees the inodes on the superblock's orphan list (files unlinked while open when the system stopped). */
async function processOrphans(fs: Ext2Fs): Promise<void> {
  const seen = new Set<number>();
  let ino = fs.sb.lastOrphan;
  while (ino !== 0) {
    if (seen.has(ino) || ino > fs.sb.inodesCount || ino < fs.firstIno) {
      fs.k.log(`ext2fs: orphan list broken at inode ${ino}; stopped`);
      break;
    }
    seen.add(ino);
    const ip = await fs.readInode(ino);
    const next = ip.dtime;
    if (ip.links === 0) await releaseInode(fs, ip);
    else {
      ip.dtime = 0;
      await fs.writeInode(ip);
    }
    ino = next;
  }
  if (fs.sb.lastOrphan !== 0) {
    fs.sb.lastOrphan = 0;
    fs.markSuperDirty();
  }
}

async function mount(dev: BlockDevice | null, opts: MountOptions, k: KernelServices): Promise<FsMount> {
  if (!dev) throw kerr('ENOTBLK', 'ext2fs: needs a block device');
  if (!opts.readonly && dev.readonly) throw kerr('EROFS', `ext2fs: ${dev.name} is read-only; mount it read-only`);
  const readonly = opts.readonly;
  const fsOpts = { readonly, verify: !opts.options.has('nocsum') };
  let fs = new Ext2Fs(dev, fsOpts, k);
  try {
    await fs.load();
    if (!readonly && fs.readonlyOnly) throw kerr('EROFS', 'ext2fs: file system has features that only allow reading');
    if (fs.has('compat', COMPAT.HAS_JOURNAL) && fs.has('incompat', INCOMPAT.RECOVER)) {
      const r = await recoverJournal(fs);
      if (readonly) {
        if (r) {
          fs = new Ext2Fs(new OverlayDevice(dev, r.blocks, fs.bs), fsOpts, k);
          await fs.load();
          k.log(`ext2fs: ${dev.name}: journal replayed in memory (${r.transactions} transactions, ${r.blocks.size} blocks)`);
        }
      } else {
        if (r) {
          for (const [b, data] of [...r.blocks].sort((x, y) => x[0] - y[0])) await dev.write(data, b * fs.bs);
          await dev.flush();
          await resetJournal(fs, r);
          await fs.dev.flush();
          k.log(`ext2fs: ${dev.name}: journal recovered (${r.transactions} transactions, ${r.blocks.size} blocks)`);
        }
        fs = new Ext2Fs(dev, fsOpts, k);
        await fs.load();
        fs.sb.featureIncompat &= ~INCOMPAT.RECOVER;
        fs.markSuperDirty();
      }
    }
    if (!readonly) {
      await processOrphans(fs);
      await fs.sync();
    }
    const root = await fs.readInode(ROOT_INO);
    if (!root.isDir) throw kerr('EFTYPE', 'ext2fs: root inode is not a directory');
  } catch (e) {
    if (e instanceof KernelError) {
      if (e.code === 'EIO' && fs.mounting) throw kerr('EFTYPE', e.detail);
      throw e;
    }
    throw kerr('EFTYPE', `ext2fs: ${(e as Error).message}`);
  }
  fs.mounting = false;
  return new Ext2Mount(fs);
}

export const ext2fs: FileSystemType = {
  name: 'ext2fs',
  aliases: ['ext2', 'ext3', 'ext4'],
  needsDevice: true,
  capabilities: {
    symlinks: true, hardlinks: true, permissions: true, specialFiles: true, sparse: true, xattr: true,
    timeResolutionNs: 1, atime: true, nameMax: 255,
  },
  probe,
  mount,
  newfs,
};

export default ext2fs;
