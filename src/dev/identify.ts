/**
 * Names what is on a device when no component can mount it: file systems and
 * containers we recognise by their signatures but do not (yet) implement, so
 * the user reads "NTFS is not supported" instead of "unknown file system".
 * Only fixed-offset magic comparisons on one bounded read; nothing is parsed.
 */

import type { BlockDevice } from './blockdev.js';

interface Signature {
  /** What we tell the user. */
  readonly name: string;
  /** Byte offset of the magic on the device. */
  readonly offset: number;
  readonly magic: readonly number[];
  /** Where the signature is documented. */
  readonly source: string;
}

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

/** Swap-area signatures sit in the last 10 bytes of the first page, whose size depends on the writer. */
const SWAP_PAGE_SIZES = [4096, 8192, 16384, 65536];

/** Checked in order; the first match wins (LUKS before anything that may sit inside it is irrelevant: LUKS is at 0). */
const SIGNATURES: readonly Signature[] = [
  { name: 'LUKS', offset: 0, magic: [...ascii('LUKS'), 0xba, 0xbe], source: 'LUKS1 on-disk format 1.2.3, section 2.4 (LUKS2 keeps the same magic)' },
  { name: 'LUKS', offset: 0, magic: [...ascii('SKUL'), 0xba, 0xbe], source: 'LUKS2 on-disk format, section 2 (secondary header)' },
  { name: 'NTFS', offset: 3, magic: ascii('NTFS    '), source: 'NTFS boot sector OEM id' },
  { name: 'exFAT', offset: 3, magic: ascii('EXFAT   '), source: 'exFAT specification, section 3.1.2 FileSystemName' },
  { name: 'XFS', offset: 0, magic: ascii('XFSB'), source: 'XFS algorithms and data structures, superblock sb_magicnum' },
  { name: 'squashfs', offset: 0, magic: ascii('hsqs'), source: 'squashfs superblock magic 0x73717368, little-endian' },
  { name: 'squashfs', offset: 0, magic: ascii('sqsh'), source: 'squashfs superblock magic, big-endian' },
  { name: 'btrfs', offset: 0x10040, magic: ascii('_BHRfS_M'), source: 'btrfs on-disk format: superblock at 64 KiB, magic at +0x40' },
  { name: 'F2FS', offset: 0x400, magic: [0x10, 0x20, 0xf5, 0xf2], source: 'F2FS superblock magic 0xf2f52010 at 1 KiB' },
  { name: 'HFS+', offset: 0x400, magic: ascii('H+'), source: 'Apple TN1150 volume header signature' },
  { name: 'HFSX', offset: 0x400, magic: ascii('HX'), source: 'Apple TN1150 volume header signature' },
  { name: 'APFS', offset: 32, magic: ascii('NXSB'), source: 'APFS reference: nx_superblock_t nx_magic' },
  { name: 'LVM2 physical volume', offset: 0x218, magic: ascii('LVM2 001'), source: 'LVM2 label in sector 1: "LABELONE", type at +24' },
  { name: 'ReiserFS', offset: 0x10034, magic: ascii('ReIsEr'), source: 'ReiserFS superblock at 64 KiB, magic at +52' },
  { name: 'JFS', offset: 0x8000, magic: ascii('JFS1'), source: 'JFS superblock at 32 KiB' },
  ...SWAP_PAGE_SIZES.flatMap((ps) => [
    { name: 'swap', offset: ps - 10, magic: ascii('SWAPSPACE2'), source: 'Linux swap header, last 10 bytes of the first page' },
    { name: 'swap', offset: ps - 10, magic: ascii('SWAP-SPACE'), source: 'Linux swap header (version 0)' },
  ]),
];

/** How much of the device the signatures need: everything up to the end of the furthest magic. */
const PREFIX = Math.max(...SIGNATURES.map((s) => s.offset + s.magic.length));

/**
 * The name of a format we recognise but cannot mount ('NTFS', 'exFAT',
 * 'btrfs', 'XFS', 'squashfs', 'LUKS', 'swap', ...), or null. Reads at most
 * the first 68 KiB of the device, once.
 */
export async function identifyForeign(dev: BlockDevice): Promise<string | null> {
  const ss = dev.sectorSize > 0 ? dev.sectorSize : 512;
  // Whole sectors only, and never past the device.
  const want = Math.ceil(PREFIX / ss) * ss;
  const len = Math.min(want, dev.size - (dev.size % ss));
  if (len <= 0) return null;
  const buf = new Uint8Array(len);
  try {
    await dev.read(buf, 0);
  } catch {
    return null;
  }
  for (const sig of SIGNATURES) {
    if (sig.offset + sig.magic.length > len) continue;
    let ok = true;
    for (let i = 0; i < sig.magic.length; i++) {
      if (buf[sig.offset + i] !== sig.magic[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return sig.name;
  }
  return null;
}
