// Partition tables made by sfdisk, read back by readPartitions and compared with sfdisk's own
// JSON dump; then damaged copies (bad CRCs, wiped primary GPT, EBR loops, out-of-range entries).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, truncate } from '../../src/testing/hostfs.js';
import { join } from 'node:path';
import { MemoryDevice } from '../../src/dev/blockdev.js';
import { readPartitions, crc32, isExtendedContainer, partitionTypeName } from '../../src/dev/disklabel.js';
import { KernelError } from '../../src/kern/error.js';
import { readImage, run, tempDir } from '../../src/testing/tools.js';

const MiB = 1024 * 1024;

async function sfdiskImage(size: number, script: string): Promise<Uint8Array> {
  const t = await tempDir();
  try {
    const p = join(t.path, 'disk.img');
    await writeFile(p, '');
    await truncate(p, size);
    await run('sfdisk', ['--no-reread', '--no-tell-kernel', p], { input: script });
    return await readImage(p);
  } finally {
    await t.cleanup();
  }
}

interface SfdiskPart { node: string; start: number; size: number; type: string; name?: string }

/** sfdisk's own reading of the table, the oracle. */
async function sfdiskDump(img: Uint8Array): Promise<SfdiskPart[]> {
  const t = await tempDir();
  try {
    const p = join(t.path, 'disk.img');
    await writeFile(p, img);
    const r = await run('sfdisk', ['--json', p]);
    return (JSON.parse(r.stdout.toString('utf8')) as { partitiontable: { partitions: SfdiskPart[] } }).partitiontable.partitions;
  } finally {
    await t.cleanup();
  }
}

const indexOf = (node: string) => Number(/(\d+)$/.exec(node)![1]);

test('MBR with primaries, an extended partition and three logicals matches sfdisk', async () => {
  const img = await sfdiskImage(64 * MiB, [
    'label: dos',
    // sfdisk numbers lines by the digits ending the node name: primaries 1, 2, extended 4, logicals 5-7.
    'x1 : start=2048, size=8M, type=83',
    'x2 : size=8M, type=c',
    'x4 : size=40M, type=5',
    'x5 : size=4M, type=83',
    'x6 : size=4M, type=82',
    'x7 : size=4M, type=7',
    '',
  ].join('\n'));
  const ours = await readPartitions(new MemoryDevice(img));
  const theirs = await sfdiskDump(img);
  assert.deepEqual(ours.map((p) => p.index), theirs.map((p) => indexOf(p.node)));
  for (const [i, t] of theirs.entries()) {
    const p = ours[i]!;
    assert.equal(p.scheme, 'mbr');
    assert.equal(p.start, t.start * 512, `start of ${t.node}`);
    assert.equal(Number.parseInt(p.type, 16), Number.parseInt(t.type, 16), `type of ${t.node}`);
    if (!isExtendedContainer(p)) assert.equal(p.size, t.size * 512, `size of ${t.node}`);
  }
  assert.deepEqual(ours.map((p) => p.index), [1, 2, 4, 5, 6, 7]);
  assert.deepEqual(ours.filter((p) => p.index >= 5).map((p) => p.type), ['0x83', '0x82', '0x07']);
  assert.equal(partitionTypeName('0x83'), 'Linux');
});

test('GPT with names matches sfdisk; backup header used when the primary is damaged', async () => {
  const img = await sfdiskImage(32 * MiB, [
    'label: gpt',
    'start=2048, size=4M, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI"',
    'size=8M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"',
    'size=8M, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
    '',
  ].join('\n'));
  const theirs = await sfdiskDump(img);
  const check = (ours: Awaited<ReturnType<typeof readPartitions>>) => {
    assert.equal(ours.length, theirs.length);
    for (const [i, t] of theirs.entries()) {
      const p = ours[i]!;
      assert.equal(p.scheme, 'gpt');
      assert.equal(p.index, indexOf(t.node));
      assert.equal(p.start, t.start * 512);
      assert.equal(p.size, t.size * 512);
      assert.equal(p.type, t.type.toLowerCase());
      assert.equal(p.name, t.name);
    }
  };
  check(await readPartitions(new MemoryDevice(img)));

  // A corrupt primary header (one flipped bit in its disk GUID): the CRC fails, the backup answers.
  const badHeader = img.slice();
  badHeader[512 + 60]! ^= 1;
  check(await readPartitions(new MemoryDevice(badHeader)));

  // A corrupt primary entry array (the header is fine, its array CRC is not).
  const badArray = img.slice();
  badArray[1024 + 40]! ^= 0xff;
  check(await readPartitions(new MemoryDevice(badArray)));

  // The whole primary area wiped, protective MBR kept.
  const wiped = img.slice();
  wiped.fill(0, 512, 2048 * 512);
  check(await readPartitions(new MemoryDevice(wiped)));

  // Both headers damaged: a clear EFTYPE, not an exception of another kind.
  const both = badHeader.slice();
  both[both.length - 512 + 60]! ^= 1;
  await assert.rejects(readPartitions(new MemoryDevice(both)), (e: unknown) => {
    assert.ok(e instanceof KernelError);
    assert.equal(e.code, 'EFTYPE');
    assert.match(e.detail ?? '', /GPT/);
    return true;
  });
});

test('GPT header with a huge entry count or entry size is refused, backup used', async () => {
  const img = await sfdiskImage(16 * MiB, 'label: gpt\nstart=2048, size=4M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n');
  const dv = new DataView(img.buffer);
  // 2^32-1 entries, with a correct header CRC so only the range check can refuse it.
  dv.setUint32(512 + 80, 0xffffffff, true);
  dv.setUint32(512 + 16, 0, true);
  dv.setUint32(512 + 16, crc32(img.subarray(512, 512 + 92)), true);
  const ours = await readPartitions(new MemoryDevice(img));
  assert.equal(ours.length, 1);
  assert.equal(ours[0]!.start, 2048 * 512);
});

test('an EBR chain that loops back on itself ends, each logical listed once', async () => {
  const img = await sfdiskImage(32 * MiB, [
    'label: dos',
    'x1 : start=2048, size=28M, type=5',
    'x5 : size=4M, type=83',
    'x6 : size=4M, type=83',
    '',
  ].join('\n'));
  const before = await readPartitions(new MemoryDevice(img));
  assert.deepEqual(before.map((p) => p.index), [1, 5, 6]);
  // Find the second EBR (the last boot-record signature before logical 6) and make its link point to itself.
  const ext = before[0]!;
  let ebr2 = -1;
  for (let off = ext.start + 512; off < before[2]!.start; off += 512) {
    if (img[off + 510] === 0x55 && img[off + 511] === 0xaa) ebr2 = off;
  }
  assert.ok(ebr2 > 0);
  const dv = new DataView(img.buffer);
  const rel = (ebr2 - ext.start) / 512;
  // Link entry of EBR 2 -> EBR 2 itself.
  img[ebr2 + 0x1be + 16 + 4] = 0x05;
  dv.setUint32(ebr2 + 0x1be + 16 + 8, rel, true);
  dv.setUint32(ebr2 + 0x1be + 16 + 12, 2048, true);
  const after = await readPartitions(new MemoryDevice(img));
  assert.deepEqual(after.map((p) => p.index), [1, 5, 6]);
});

test('MBR entries outside the device are clipped or dropped; a FAT boot sector is not a table', async () => {
  const img = await sfdiskImage(8 * MiB, 'label: dos\nstart=2048, size=4M, type=83\nsize=2M, type=83\n');
  const dv = new DataView(img.buffer);
  // Entry 2 now claims 2^32-1 sectors; entry 3 starts past the end.
  dv.setUint32(0x1be + 16 + 12, 0xffffffff, true);
  img[0x1be + 32 + 4] = 0x83;
  dv.setUint32(0x1be + 32 + 8, 0xfffffff0, true);
  dv.setUint32(0x1be + 32 + 12, 16, true);
  const ours = await readPartitions(new MemoryDevice(img));
  assert.deepEqual(ours.map((p) => p.index), [1, 2]);
  assert.equal(ours[1]!.start + ours[1]!.size, img.length);

  const t = await tempDir();
  try {
    const p = join(t.path, 'fat.img');
    await writeFile(p, '');
    await truncate(p, 20 * MiB);
    await run('mkfs.fat', ['-F', '16', p]);
    assert.deepEqual(await readPartitions(new MemoryDevice(await readImage(p))), []);
  } finally {
    await t.cleanup();
  }
  // A device with nothing on it.
  assert.deepEqual(await readPartitions(MemoryDevice.zeroed(MiB)), []);
  assert.deepEqual(await readPartitions(MemoryDevice.zeroed(512)), []);
});

test('crc32 agrees with the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});
