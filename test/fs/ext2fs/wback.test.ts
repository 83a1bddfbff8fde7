// The write-behind under read-write ext2fs mounts: what is read is always what was last written (from a
// pending run, across gaps, while runs are being written), flush puts everything on the device, and a
// failed device write is reported and retried, never lost.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { FaultDevice } from '../../../src/dev/fault.js';
import { WriteBehind } from '../../../src/fs/ext2fs/wback.js';
import { Prng } from '../../../src/testing/prng.js';

const SECTOR = 512;

function filled(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 131 + i * 7) & 0xff;
  return b;
}

test('random writes and reads through the write-behind match a plain model, and flush leaves the device equal to it', async () => {
  const size = 32 * 1024 * 1024;
  const initial = filled(size, 3);
  const dev = new MemoryDevice(initial.slice());
  const wb = new WriteBehind(dev);
  const model = initial.slice();
  const rng = new Prng(7);
  let cursor = 0;
  for (let step = 0; step < 3000; step++) {
    const kind = rng.int(10);
    // Mostly sequential appends with small gaps (how file data arrives), sometimes anywhere, sometimes large.
    let off: number;
    if (kind < 6) off = cursor + SECTOR * rng.int(3) * (rng.int(4) === 0 ? 8 : 1);
    else off = SECTOR * rng.int(size / SECTOR);
    const len = SECTOR * (kind === 9 ? 1 + rng.int(12 * 1024) : 1 + rng.int(64));
    if (off + len > size) off = size - len;
    if (rng.int(3) === 0) {
      const got = new Uint8Array(len);
      await wb.read(got, off);
      assert.deepEqual(got, model.subarray(off, off + len), `read of ${len} at ${off}, step ${step}`);
    } else {
      const data = filled(len, step);
      await wb.write(data, off);
      model.set(data, off);
      cursor = off + len;
    }
    if (step % 1000 === 999) await wb.flush();
  }
  await wb.flush();
  assert.equal(wb.pending, 0);
  assert.ok(wb.stats.gathered > 0 && wb.stats.gapBytes > 0, JSON.stringify(wb.stats));
  assert.ok(Buffer.from(dev.bytes).equals(Buffer.from(model)), 'device equals the model after flush');
});

test('reads issued while runs are being written see the new bytes', async () => {
  const dev = new MemoryDevice(new Uint8Array(64 * 1024 * 1024));
  const wb = new WriteBehind(dev);
  const writes: Promise<void>[] = [];
  // Many far-apart runs force background writes to make room; reads race them.
  for (let i = 0; i < 40; i++) writes.push(wb.write(filled(64 * 1024, i), i * 1024 * 1024));
  await Promise.all(writes);
  const reads = [];
  for (let i = 0; i < 40; i++) {
    const got = new Uint8Array(64 * 1024);
    reads.push(wb.read(got, i * 1024 * 1024).then(() => assert.deepEqual(got, filled(64 * 1024, i), `run ${i}`)));
  }
  await Promise.all(reads);
  await wb.flush();
  for (let i = 0; i < 40; i++) assert.deepEqual(dev.bytes.subarray(i * 1024 * 1024, i * 1024 * 1024 + 64 * 1024), filled(64 * 1024, i));
});

test('a failed device write is reported by flush, stays pending, and reaches the device on the next flush', async () => {
  const mem = new MemoryDevice(new Uint8Array(4 * 1024 * 1024));
  const fault = new FaultDevice(mem, { every: 1, ops: 'write' });
  const wb = new WriteBehind(fault);
  const data = filled(8192, 9);
  await wb.write(data, 4096);
  await assert.rejects(wb.flush(), (e: Error & { code?: string }) => e.code === 'EIO');
  assert.equal(wb.pending, 8192);
  const got = new Uint8Array(8192);
  await wb.read(got, 4096);
  assert.deepEqual(got, data, 'still readable while pending');
  fault.enabled = false;
  await wb.flush();
  assert.equal(wb.pending, 0);
  assert.deepEqual(mem.bytes.subarray(4096, 4096 + 8192), data);
});

test('writes the device would refuse fail at once', async () => {
  const wb = new WriteBehind(new MemoryDevice(new Uint8Array(1024 * 1024)));
  await assert.rejects(wb.write(new Uint8Array(4096), 1024 * 1024), (e: Error & { code?: string }) => e.code === 'EIO');
  const ro = new WriteBehind(new MemoryDevice(new Uint8Array(1024 * 1024), { readonly: true }));
  await assert.rejects(ro.write(new Uint8Array(4096), 0), (e: Error & { code?: string }) => e.code === 'EROFS');
});
