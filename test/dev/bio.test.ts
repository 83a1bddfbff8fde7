// The buffer cache: hits and misses, delayed writes reach the device at flush, LRU eviction under the cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/dev/blockdev.js';
import { BufCache } from '../../src/vfs/bio.js';

test('bread caches; bdwrite is written at flush, not before', async () => {
  const dev = MemoryDevice.zeroed(64 * 1024);
  dev.bytes[4096] = 9;
  const bc = new BufCache(dev);
  const bp = await bc.bread(4096, 4096);
  assert.equal(bp.data[0], 9);
  bp.data[1] = 5;
  bc.bdwrite(bp);
  assert.equal(dev.bytes[4097], 0);
  const again = await bc.bread(4096, 4096);
  assert.equal(again.data[1], 5);
  bc.brelse(again);
  assert.equal(bc.stats.hits, 1);
  assert.equal(bc.stats.misses, 1);
  await bc.flush();
  assert.equal(dev.bytes[4097], 5);
  assert.equal(bc.dirtyCount, 0);
});

test('concurrent breads of one block share one device read', async () => {
  const dev = MemoryDevice.zeroed(64 * 1024);
  const bc = new BufCache(dev);
  const [a, b] = await Promise.all([bc.bread(0, 1024), bc.bread(0, 1024)]);
  assert.equal(a, b);
  assert.equal(bc.stats.reads, 1);
  bc.brelse(a);
  bc.brelse(b);
});

test('unreferenced clean buffers are evicted beyond the cap; held ones are not', async () => {
  const dev = MemoryDevice.zeroed(1024 * 1024);
  const bc = new BufCache(dev, 8 * 1024);
  const held = await bc.bread(0, 1024);
  for (let i = 1; i < 64; i++) bc.brelse(await bc.bread(i * 1024, 1024));
  assert.ok(bc.stats.bytes <= 9 * 1024, `${bc.stats.bytes} bytes cached`);
  assert.ok(bc.has(0));
  assert.ok(!bc.has(1024));
  bc.brelse(held);
});

test('a failed read is not cached and reports the error', async () => {
  const dev = MemoryDevice.zeroed(4096);
  const bc = new BufCache(dev);
  await assert.rejects(bc.bread(8192, 1024), { code: 'EIO' });
  assert.ok(!bc.has(8192));
});

/** A memory device that records each write (offset, length) and fails while `failing` is set. */
class RecordingDevice extends MemoryDevice {
  writes: [number, number][] = [];
  failing = false;
  override async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.failing) throw Object.assign(new Error('injected'), { code: 'EIO' });
    this.writes.push([offset, buf.length]);
    return super.write(buf, offset);
  }
}

test('flush writes neighbouring dirty blocks in one device write, and leaves gaps apart', async () => {
  const dev = new RecordingDevice(new Uint8Array(4 * 1024 * 1024));
  const bc = new BufCache(dev);
  // Blocks 0..3 side by side, then 5 (a gap at 4), then 6..7; all with their own pattern.
  for (const i of [3, 1, 0, 2, 5, 7, 6]) {
    const bp = await bc.getblk(i * 4096, 4096);
    bp.data.fill(i + 1);
    bc.bdwrite(bp);
  }
  // A clean cached block between dirty ones ends a run too.
  bc.brelse(await bc.bread(8 * 4096, 4096));
  const nine = await bc.getblk(9 * 4096, 4096);
  nine.data.fill(10);
  bc.bdwrite(nine);
  await bc.flush();
  assert.deepEqual(dev.writes, [
    [0, 4 * 4096],
    [5 * 4096, 3 * 4096],
    [9 * 4096, 4096],
  ]);
  for (const i of [0, 1, 2, 3, 5, 6, 7, 9]) assert.ok(dev.bytes.subarray(i * 4096, (i + 1) * 4096).every((b) => b === i + 1), `block ${i}`);
  assert.ok(dev.bytes.subarray(4 * 4096, 5 * 4096).every((b) => b === 0), 'the gap is not written');
  assert.equal(bc.dirtyCount, 0);
});

test('a joined write is at most 1 MiB, and one that fails leaves every block in it dirty', async () => {
  const dev = new RecordingDevice(new Uint8Array(4 * 1024 * 1024));
  const bc = new BufCache(dev, 64 * 1024 * 1024);
  for (let i = 0; i < 300; i++) {
    const bp = await bc.getblk(i * 4096, 4096);
    bp.data.fill(i & 0xff);
    bc.bdwrite(bp);
  }
  dev.failing = true;
  await assert.rejects(bc.flush(), { code: 'EIO' });
  assert.equal(bc.dirtyCount, 300);
  dev.failing = false;
  await bc.flush();
  assert.deepEqual(dev.writes, [
    [0, 1024 * 1024],
    [1024 * 1024, 300 * 4096 - 1024 * 1024],
  ]);
  for (let i = 0; i < 300; i++) assert.equal(dev.bytes[i * 4096 + 17], i & 0xff, `block ${i}`);
  assert.equal(bc.dirtyCount, 0);
});
