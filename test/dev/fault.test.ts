// The fault-injecting device: every n-th I/O, a seeded fraction, torn writes — reproducible from the seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/dev/blockdev.js';
import { FaultDevice } from '../../src/dev/fault.js';

async function pattern(dev: FaultDevice, n: number): Promise<string> {
  let s = '';
  const buf = new Uint8Array(512);
  for (let i = 0; i < n; i++) {
    try {
      await dev.read(buf, 0);
      s += '.';
    } catch (e) {
      assert.equal((e as { code: string }).code, 'EIO');
      s += 'x';
    }
  }
  return s;
}

test('every n-th I/O fails with EIO', async () => {
  const dev = new FaultDevice(MemoryDevice.zeroed(4096), { every: 3 });
  assert.equal(await pattern(dev, 9), '..x..x..x');
  assert.equal(dev.failures, 3);
});

test('a seeded fraction fails the same I/Os for the same seed, others for another', async () => {
  const a = await pattern(new FaultDevice(MemoryDevice.zeroed(4096), { fraction: 0.3, seed: 42 }), 200);
  const b = await pattern(new FaultDevice(MemoryDevice.zeroed(4096), { fraction: 0.3, seed: 42 }), 200);
  const c = await pattern(new FaultDevice(MemoryDevice.zeroed(4096), { fraction: 0.3, seed: 43 }), 200);
  assert.equal(a, b);
  assert.notEqual(a, c);
  const fails = [...a].filter((ch) => ch === 'x').length;
  assert.ok(fails > 30 && fails < 90, `${fails} failures of 200`);
});

test('a torn write leaves a prefix of whole sectors on the device', async () => {
  const mem = MemoryDevice.zeroed(64 * 512);
  const dev = new FaultDevice(mem, { every: 1, tear: true, seed: 7 });
  await assert.rejects(dev.write(new Uint8Array(32 * 512).fill(0xaa), 0), { code: 'EIO' });
  const written = mem.bytes.findIndex((b) => b !== 0xaa);
  assert.equal(written % 512, 0);
  assert.ok(written < 32 * 512);
  assert.ok(mem.bytes.subarray(written).every((b) => b === 0));
});

test('reads and writes past the end are EIO; writes to a read-only device are EROFS', async () => {
  const dev = MemoryDevice.zeroed(1024);
  await assert.rejects(dev.read(new Uint8Array(512), 1024), { code: 'EIO' });
  const ro = new MemoryDevice(new Uint8Array(1024), { readonly: true });
  await assert.rejects(ro.write(new Uint8Array(512), 0), { code: 'EROFS' });
});
