// Node hypercalls: host files as block stores through positional I/O; read-only opens never write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeHypercalls } from '../../src/rumpuser/node.js';
import { Kernel } from '../../src/kern/kernel.js';
import { tempDir } from '../../src/testing/tools.js';

test('read, write, size and flush through a host file; EROFS on a read-only open', async () => {
  const dir = await tempDir();
  try {
    const path = join(dir.path, 'disk');
    await writeFile(path, Buffer.alloc(8192, 1));
    const h = new NodeHypercalls();
    const f = await h.open(path, { readonly: false });
    assert.equal(await f.size(), 8192);
    await f.write(new Uint8Array(512).fill(7), 1024);
    await f.flush();
    const buf = new Uint8Array(1024);
    assert.equal(await f.read(buf, 512), 1024);
    assert.equal(buf[0], 1);
    assert.equal(buf[512], 7);
    assert.equal(await f.read(buf, 8000), 192);
    await f.close();
    const ro = await h.open(path, { readonly: true });
    await assert.rejects(ro.write(new Uint8Array(1), 0), { code: 'EROFS' });
    await ro.close();
    await assert.rejects(h.open(join(dir.path, 'missing'), { readonly: true }), { code: 'ENOENT' });
    await assert.rejects(h.open(dir.path, { readonly: true }), { code: 'EFTYPE' });
  } finally {
    await dir.cleanup();
  }
});

test('etfs registers a byte range of a host file as a device; a read-only device is never written', async () => {
  const dir = await tempDir();
  try {
    const path = join(dir.path, 'disk');
    const data = Buffer.alloc(16384);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    await writeFile(path, data);
    const before = (await stat(path)).mtimeMs;
    const k = await Kernel.boot({ host: new NodeHypercalls() });
    const dev = await k.etfs.register('/dev/part1', path, { readonly: true, offset: 4096, size: 8192 });
    assert.equal(dev.size, 8192);
    const buf = new Uint8Array(512);
    await dev.read(buf, 0);
    assert.equal(buf[1], (4096 + 1) & 0xff);
    await assert.rejects(dev.write(buf, 0), { code: 'EROFS' });
    await assert.rejects(dev.read(buf, 8192), { code: 'EIO' });
    await k.halt();
    assert.deepEqual(await readFile(path), data);
    assert.equal((await stat(path)).mtimeMs, before);
  } finally {
    await dir.cleanup();
  }
});

test('the clock has nanoseconds and moves forward', () => {
  const h = new NodeHypercalls();
  const a = h.clockRealtime();
  assert.ok(a.nsec >= 0 && a.nsec < 1e9);
  assert.ok(Math.abs(a.sec - Date.now() / 1000) < 2);
  assert.ok(h.clockMonotonic() > 0n);
});
