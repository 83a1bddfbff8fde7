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
