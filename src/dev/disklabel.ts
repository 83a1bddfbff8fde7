/**
 * Partition tables (NetBSD's dkwedge discovery: dkwedge_mbr.c, dkwedge_gpt.c):
 * reads the MBR, with its chain of extended boot records, and the GPT, and
 * returns the partitions as byte ranges that a wedge (SubDevice) can expose.
 *
 * Everything read here comes from an untrusted image: every field is checked
 * against the device size and the format's limits, the logical-partition chain
 * is bounded and loop-checked, and the GPT header and entry array are only
 * believed when their CRC32s match (the backup header is used otherwise).
 */

import type { BlockDevice } from './blockdev.js';
import { kerr } from '../kern/error.js';

export interface PartitionInfo {
  /** Linux numbering: 1..4 for MBR primaries (and GPT entries in array order, from 1), 5.. for MBR logicals. */
  index: number;
  /** Byte offset of the first byte on the device. */
  start: number;
  /** Length in bytes. */
  size: number;
  /** MBR: the system id as '0x83'; GPT: the type GUID, lower case ('0fc63daf-8483-4772-8e79-3d69d8477de4'). */
  type: string;
  /** GPT partition name, when not empty. */
  name?: string;
  scheme: 'mbr' | 'gpt';
}

// ---------------------------------------------------------------------------
// Declarative little-endian structure layouts: one table per structure, and
// decode() reads any of them.

type FieldKind = 'u8' | 'u16' | 'u32' | 'u64' | 'guid' | 'bytes' | 'utf16';

interface Field {
  readonly off: number;
  readonly width: number;
  readonly kind: FieldKind;
  readonly name: string;
  readonly meaning: string;
}

type Decoded<F extends readonly Field[]> = {
  [K in F[number] as K['name']]: K['kind'] extends 'guid' | 'utf16' ? string : K['kind'] extends 'bytes' ? Uint8Array : number;
};

function field<N extends string, K extends FieldKind>(off: number, width: number, kind: K, name: N, meaning: string) {
  return { off, width, kind, name, meaning } as const;
}

/** Decodes `layout` from `b` at `base`. u64 values above 2^53 come back as Infinity (they are never valid here). */
function decode<F extends readonly Field[]>(layout: F, b: Uint8Array, base = 0): Decoded<F> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Map<string, unknown>();
  for (const f of layout) {
    const o = base + f.off;
    switch (f.kind) {
      case 'u8': out.set(f.name, dv.getUint8(o)); break;
      case 'u16': out.set(f.name, dv.getUint16(o, true)); break;
      case 'u32': out.set(f.name, dv.getUint32(o, true)); break;
      case 'u64': {
        const v = dv.getBigUint64(o, true);
        out.set(f.name, v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v));
        break;
      }
      case 'guid': out.set(f.name, guidString(b.subarray(o, o + 16))); break;
      case 'bytes': out.set(f.name, b.subarray(o, o + f.width)); break;
      case 'utf16': {
        let s = '';
        for (let i = 0; i + 1 < f.width; i += 2) {
          const c = dv.getUint16(o + i, true);
          if (c === 0) break;
          s += String.fromCharCode(c);
        }
        out.set(f.name, s);
        break;
      }
    }
  }
  return Object.fromEntries(out) as Decoded<F>;
}

// ---------------------------------------------------------------------------
// MBR (the "DOS" partition table; see the UEFI specification 2.10, section 5.2.1, table 5.1 and 5.2).

const MBR_SIGNATURE_OFFSET = 0x1fe;
const MBR_TABLE_OFFSET = 0x1be;
const MBR_ENTRY_SIZE = 16;

/** One 16-byte MBR partition record (UEFI 2.10 table 5.2). */
const MBR_ENTRY = [
  field(0, 1, 'u8', 'bootIndicator', '0x80 active, 0x00 inactive; anything else means this is not a partition table'),
  field(1, 3, 'bytes', 'startChs', 'CHS address of the first sector (ignored: LBA is used)'),
  field(4, 1, 'u8', 'osType', 'system id: 0x05/0x0f/0x85 extended, 0xee GPT protective, 0x00 unused'),
  field(5, 3, 'bytes', 'endChs', 'CHS address of the last sector (ignored)'),
  field(8, 4, 'u32', 'startLba', 'first sector, relative to the table\'s base (the disk, or for an EBR see below)'),
  field(12, 4, 'u32', 'sizeInLba', 'length in sectors'),
] as const;

/** Start of an MBR-formatted FAT boot sector's BPB (Microsoft FAT specification, section 3.1), for telling a partitionless FAT volume from a table. */
const FAT_BPB = [
  field(0, 1, 'u8', 'jmpBoot', 'x86 jump: 0xeb or 0xe9'),
  field(11, 2, 'u16', 'bytsPerSec', '512, 1024, 2048 or 4096'),
  field(13, 1, 'u8', 'secPerClus', 'power of two'),
  field(14, 2, 'u16', 'rsvdSecCnt', 'non-zero'),
  field(16, 1, 'u8', 'numFats', 'non-zero'),
  field(21, 1, 'u8', 'media', '0xf0 or 0xf8..0xff'),
] as const;

const EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);
const GPT_PROTECTIVE = 0xee;
/** Cap on logical partitions (Linux allows 256 partitions per disk in all). */
const MAX_LOGICAL = 252;

function looksLikeFatBootSector(sec: Uint8Array): boolean {
  const b = decode(FAT_BPB, sec);
  return (
    (b.jmpBoot === 0xeb || b.jmpBoot === 0xe9) &&
    [512, 1024, 2048, 4096].includes(b.bytsPerSec) &&
    b.secPerClus !== 0 && (b.secPerClus & (b.secPerClus - 1)) === 0 &&
    b.rsvdSecCnt !== 0 && b.numFats !== 0 &&
    (b.media === 0xf0 || b.media >= 0xf8)
  );
}

function mbrEntries(sec: Uint8Array) {
  const out = [];
  for (let i = 0; i < 4; i++) out.push(decode(MBR_ENTRY, sec, MBR_TABLE_OFFSET + i * MBR_ENTRY_SIZE));
  return out;
}

function hasMbrSignature(sec: Uint8Array): boolean {
  return sec[MBR_SIGNATURE_OFFSET] === 0x55 && sec[MBR_SIGNATURE_OFFSET + 1] === 0xaa;
}

/**
 * Whether sector 0 holds a partition table rather than a file system's boot
 * sector (Linux's msdos_partition() makes the same decisions): the 0x55aa
 * signature, boot indicators of 0 or 0x80, and at least one used entry.
 */
function isMbrTable(sec: Uint8Array): boolean {
  if (!hasMbrSignature(sec)) return false;
  const entries = mbrEntries(sec);
  if (entries.some((e) => e.bootIndicator !== 0 && e.bootIndicator !== 0x80)) return false;
  if (entries.every((e) => e.osType === 0 || e.sizeInLba === 0)) return false;
  // A FAT boot sector whose boot code happens to reach the table: a whole-device volume.
  if (looksLikeFatBootSector(sec) && entries.every((e) => e.bootIndicator === 0) && !entries.some((e) => e.osType === GPT_PROTECTIVE)) {
    return false;
  }
  return true;
}

function hex2(n: number): string {
  return '0x' + n.toString(16).padStart(2, '0');
}

/** A range in sectors clipped to the device; null when it starts outside it or is empty. */
function clip(dev: BlockDevice, startSec: number, sizeSec: number): { start: number; size: number } | null {
  const ss = dev.sectorSize;
  const start = startSec * ss;
  // Start 0 is legal for a primary (isohybrid images cover the MBR with their first partition).
  if (sizeSec === 0 || start >= dev.size) return null;
  const size = Math.min(sizeSec * ss, dev.size - start);
  return { start, size };
}

async function readSector(dev: BlockDevice, lba: number, count = 1): Promise<Uint8Array> {
  const buf = new Uint8Array(dev.sectorSize * count);
  await dev.read(buf, lba * dev.sectorSize);
  return buf;
}

async function readMbr(dev: BlockDevice, sec0: Uint8Array): Promise<PartitionInfo[]> {
  const ss = dev.sectorSize;
  const devSectors = Math.floor(dev.size / ss);
  const out: PartitionInfo[] = [];
  let extended: { startLba: number; sizeInLba: number } | null = null;
  mbrEntries(sec0).forEach((e, i) => {
    if (e.osType === 0) return;
    const r = clip(dev, e.startLba, e.sizeInLba);
    if (!r) return;
    out.push({ index: i + 1, start: r.start, size: r.size, type: hex2(e.osType), scheme: 'mbr' });
    // Only the first extended partition is followed, as Linux does.
    if (EXTENDED_TYPES.has(e.osType) && extended === null) extended = { startLba: e.startLba, sizeInLba: e.sizeInLba };
  });
  if (extended === null) return out;

  // The logical partitions: a linked list of extended boot records (EBRs). Each EBR's first entry is
  // a logical partition relative to that EBR; its second entry points to the next EBR, relative to
  // the start of the extended partition. Bounded by MAX_LOGICAL and by a set of visited EBRs.
  const ext: { startLba: number; sizeInLba: number } = extended;
  const extEnd = Math.min(ext.startLba + ext.sizeInLba, devSectors);
  const seen = new Set<number>();
  let ebrLba = ext.startLba;
  let index = 5;
  for (let hops = 0; hops < MAX_LOGICAL; hops++) {
    if (seen.has(ebrLba) || ebrLba < ext.startLba || ebrLba >= extEnd) break;
    seen.add(ebrLba);
    const sec = await readSector(dev, ebrLba);
    if (!hasMbrSignature(sec)) break;
    const [logical, link] = mbrEntries(sec) as [ReturnType<typeof mbrEntries>[number], ReturnType<typeof mbrEntries>[number]];
    if (logical.osType !== 0 && logical.sizeInLba !== 0 && !EXTENDED_TYPES.has(logical.osType)) {
      const startLba = ebrLba + logical.startLba;
      // A logical partition must lie inside the extended partition; clip it there.
      if (startLba < extEnd && logical.startLba !== 0) {
        const sizeSec = Math.min(logical.sizeInLba, extEnd - startLba);
        out.push({ index, start: startLba * ss, size: sizeSec * ss, type: hex2(logical.osType), scheme: 'mbr' });
      }
      index++;
    }
    if (!EXTENDED_TYPES.has(link.osType) || link.startLba === 0) break;
    ebrLba = ext.startLba + link.startLba;
  }
  return out;
}

// ---------------------------------------------------------------------------
// GPT (UEFI specification 2.10, section 5.3).

/** The GPT header (UEFI 2.10 table 5.5). */
const GPT_HEADER = [
  field(0, 8, 'bytes', 'signature', '"EFI PART"'),
  field(8, 4, 'u32', 'revision', '0x00010000'),
  field(12, 4, 'u32', 'headerSize', 'bytes covered by the header CRC: 92 up to the sector size'),
  field(16, 4, 'u32', 'headerCrc32', 'CRC32 of headerSize bytes with this field zero'),
  field(20, 4, 'u32', 'reserved', 'zero'),
  field(24, 8, 'u64', 'myLba', 'LBA of this header (1 for the primary, the last sector for the backup)'),
  field(32, 8, 'u64', 'alternateLba', 'LBA of the other header'),
  field(40, 8, 'u64', 'firstUsableLba', 'first LBA a partition may use'),
  field(48, 8, 'u64', 'lastUsableLba', 'last LBA a partition may use'),
  field(56, 16, 'guid', 'diskGuid', 'disk identifier'),
  field(72, 8, 'u64', 'partitionEntryLba', 'first LBA of the partition entry array'),
  field(80, 4, 'u32', 'numberOfPartitionEntries', 'entries in the array'),
  field(84, 4, 'u32', 'sizeOfPartitionEntry', '128 * 2^n bytes'),
  field(88, 4, 'u32', 'partitionEntryArrayCrc32', 'CRC32 of numberOfPartitionEntries * sizeOfPartitionEntry bytes'),
] as const;

/** One GPT partition entry (UEFI 2.10 table 5.6). */
const GPT_ENTRY = [
  field(0, 16, 'guid', 'partitionTypeGuid', 'zero: unused entry'),
  field(16, 16, 'guid', 'uniquePartitionGuid', 'partition identifier'),
  field(32, 8, 'u64', 'startingLba', 'first LBA'),
  field(40, 8, 'u64', 'endingLba', 'last LBA (inclusive)'),
  field(48, 8, 'u64', 'attributes', 'bit 0 required, bit 1 no block-io, bit 2 legacy bootable'),
  field(56, 72, 'utf16', 'partitionName', 'UTF-16LE, NUL-padded'),
] as const;

const GPT_SIGNATURE = 'EFI PART';
const UNUSED_GUID = '00000000-0000-0000-0000-000000000000';
/** Cap on the entry array we read: 1 MiB (the usual array is 16 KiB; 128 entries of 128 bytes). */
const GPT_MAX_ARRAY_BYTES = 1 << 20;
const GPT_MAX_ENTRY_SIZE = 4096;

/** The mixed-endian textual form of a GUID (UEFI 2.10 appendix A). */
function guidString(b: Uint8Array): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, '0');
  const le = (idx: number[]) => idx.map(h).join('');
  return `${le([3, 2, 1, 0])}-${le([5, 4])}-${le([7, 6])}-${le([8, 9])}-${le([10, 11, 12, 13, 14, 15])}`;
}

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309 / ITU-T V.42, reflected polynomial 0xedb88320), as the GPT uses it. */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC32_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type GptHeader = Decoded<typeof GPT_HEADER>;

/** Why a header at `lba` is not usable, or the header. */
async function readGptHeader(dev: BlockDevice, lba: number): Promise<GptHeader | string> {
  const ss = dev.sectorSize;
  const devSectors = Math.floor(dev.size / ss);
  if (lba < 1 || lba >= devSectors) return `header LBA ${lba} outside the device`;
  const sec = await readSector(dev, lba);
  const h = decode(GPT_HEADER, sec);
  if (String.fromCharCode(...h.signature) !== GPT_SIGNATURE) return `no signature at LBA ${lba}`;
  if (h.headerSize < 92 || h.headerSize > ss) return `header size ${h.headerSize}`;
  const copy = sec.slice(0, h.headerSize);
  copy.fill(0, 16, 20);
  if (crc32(copy) !== h.headerCrc32) return `header CRC mismatch at LBA ${lba}`;
  if (h.myLba !== lba) return `header at LBA ${lba} says it is at ${h.myLba}`;
  if (
    h.sizeOfPartitionEntry < 128 || h.sizeOfPartitionEntry > GPT_MAX_ENTRY_SIZE ||
    h.sizeOfPartitionEntry % 128 !== 0
  ) {
    return `entry size ${h.sizeOfPartitionEntry}`;
  }
  const arrayBytes = h.numberOfPartitionEntries * h.sizeOfPartitionEntry;
  if (arrayBytes > GPT_MAX_ARRAY_BYTES) return `entry array of ${h.numberOfPartitionEntries} entries is too large`;
  const arraySectors = Math.ceil(arrayBytes / ss);
  if (h.partitionEntryLba < 1 || h.partitionEntryLba + arraySectors > devSectors) return `entry array at LBA ${h.partitionEntryLba} outside the device`;
  if (h.firstUsableLba > h.lastUsableLba || h.lastUsableLba >= devSectors) return `usable range ${h.firstUsableLba}..${h.lastUsableLba}`;
  return h;
}

async function readGptEntries(dev: BlockDevice, h: GptHeader): Promise<PartitionInfo[] | string> {
  const ss = dev.sectorSize;
  const arrayBytes = h.numberOfPartitionEntries * h.sizeOfPartitionEntry;
  const raw = await readSector(dev, h.partitionEntryLba, Math.ceil(arrayBytes / ss));
  const arr = raw.subarray(0, arrayBytes);
  if (crc32(arr) !== h.partitionEntryArrayCrc32) return 'entry array CRC mismatch';
  const out: PartitionInfo[] = [];
  for (let i = 0; i < h.numberOfPartitionEntries; i++) {
    const e = decode(GPT_ENTRY, arr, i * h.sizeOfPartitionEntry);
    if (e.partitionTypeGuid === UNUSED_GUID) continue;
    // Entries outside the usable range or reversed are ignored (Linux does the same).
    if (e.startingLba > e.endingLba || e.startingLba < h.firstUsableLba || e.endingLba > h.lastUsableLba) continue;
    const p: PartitionInfo = {
      index: i + 1,
      start: e.startingLba * ss,
      size: (e.endingLba - e.startingLba + 1) * ss,
      type: e.partitionTypeGuid,
      scheme: 'gpt',
    };
    if (e.partitionName !== '') p.name = e.partitionName;
    out.push(p);
  }
  return out;
}

async function readGpt(dev: BlockDevice): Promise<PartitionInfo[]> {
  const devSectors = Math.floor(dev.size / dev.sectorSize);
  const problems: string[] = [];
  const primary = await readGptHeader(dev, 1);
  if (typeof primary !== 'string') {
    const r = await readGptEntries(dev, primary);
    if (typeof r !== 'string') return r;
    problems.push(`primary: ${r}`);
  } else problems.push(`primary: ${primary}`);
  // The backup header sits in the last sector; a valid primary also says where it is.
  const candidates = new Set<number>([devSectors - 1]);
  if (typeof primary !== 'string' && primary.alternateLba < devSectors) candidates.add(primary.alternateLba);
  for (const lba of candidates) {
    const backup = await readGptHeader(dev, lba);
    if (typeof backup === 'string') {
      problems.push(`backup: ${backup}`);
      continue;
    }
    const r = await readGptEntries(dev, backup);
    if (typeof r !== 'string') return r;
    problems.push(`backup: ${r}`);
  }
  throw kerr('EFTYPE', `${dev.name}: GPT: no valid header (${problems.join('; ')})`);
}

// ---------------------------------------------------------------------------

/**
 * The partitions on `dev`, in index order; an empty array when there is no
 * partition table (a file system on the whole device). EFTYPE when a GPT is
 * announced by a protective MBR but neither of its headers is valid.
 */
export async function readPartitions(dev: BlockDevice): Promise<PartitionInfo[]> {
  const ss = dev.sectorSize;
  if (dev.size < 2 * ss) return [];
  const sec0 = await readSector(dev, 0);
  const sig1 = await readSector(dev, 1);
  const lba1IsGpt = String.fromCharCode(...sig1.subarray(0, 8)) === GPT_SIGNATURE;
  if (isMbrTable(sec0)) {
    if (mbrEntries(sec0).some((e) => e.osType === GPT_PROTECTIVE)) return sortByIndex(await readGpt(dev));
    return sortByIndex(await readMbr(dev, sec0));
  }
  // No usable MBR but a GPT header where it belongs (a table whose protective MBR was wiped).
  if (lba1IsGpt) return sortByIndex(await readGpt(dev));
  return [];
}

function sortByIndex(p: PartitionInfo[]): PartitionInfo[] {
  return p.sort((a, b) => a.index - b.index);
}

/** MBR system ids and GPT type GUIDs we name in listings. */
const TYPE_NAMES = new Map<string, string>([
  ['0x01', 'FAT12'], ['0x04', 'FAT16 <32M'], ['0x05', 'Extended'], ['0x06', 'FAT16'], ['0x07', 'HPFS/NTFS/exFAT'],
  ['0x0b', 'W95 FAT32'], ['0x0c', 'W95 FAT32 (LBA)'], ['0x0e', 'W95 FAT16 (LBA)'], ['0x0f', 'W95 Extended (LBA)'],
  ['0x82', 'Linux swap'], ['0x83', 'Linux'], ['0x85', 'Linux extended'], ['0x8e', 'Linux LVM'],
  ['0xa5', 'FreeBSD'], ['0xa6', 'OpenBSD'], ['0xa9', 'NetBSD'], ['0xee', 'GPT'], ['0xef', 'EFI System'], ['0xfd', 'Linux raid'],
  ['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 'EFI System'],
  ['0fc63daf-8483-4772-8e79-3d69d8477de4', 'Linux filesystem'],
  ['0657fd6d-a4ab-43c4-84e5-0933c84b4f4f', 'Linux swap'],
  ['e6d6d379-f507-44c2-a23c-238f2a3df928', 'Linux LVM'],
  ['ebd0a0a2-b9e5-4433-87c0-68b6b72699c7', 'Microsoft basic data'],
  ['e3c9e316-0b5c-4db8-817d-f92df00215ae', 'Microsoft reserved'],
  ['21686148-6449-6e6f-744e-656564454649', 'BIOS boot'],
  ['49f48d5a-b10e-11dc-b99b-0019d1879648', 'NetBSD FFS'],
  ['516e7cb6-6ecf-11d6-8ff8-00022d09712b', 'FreeBSD UFS'],
  ['4f68bce3-e8cd-4db1-96e7-fbcaf984b709', 'Linux root (x86-64)'],
]);

/** A human name for a partition type ('Linux', 'EFI System'), or the raw type. */
export function partitionTypeName(type: string): string {
  return TYPE_NAMES.get(type.toLowerCase()) ?? type;
}

/** Whether an MBR partition is an extended container (it holds EBRs, never a file system). */
export function isExtendedContainer(p: PartitionInfo): boolean {
  return p.scheme === 'mbr' && EXTENDED_TYPES.has(Number.parseInt(p.type, 16));
}
