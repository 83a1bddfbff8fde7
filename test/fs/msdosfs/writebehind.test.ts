/**
 * File data leaves msdosfs through a write-behind stage (large contiguous writes, one in flight while the
 * next fills): data read back before any sync is what was written, small and unaligned appends keep their
 * neighbours' bytes, clusters freed while their data is still staged can become directories, and a failed
 * device write is reported by sync and retried rather than lost.
 */

import { test } from 'node:test';
import { patternBytes } from '../../../src/testing/prng.js';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/dev/blockdev.js';
import { FaultDevice } from '../../../src/dev/fault.js';
import { parseOptions, type VnodeImpl } from '../../../src/vfs/types.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { newfsMsdos } from '../../../src/fs/msdosfs/newfs.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import { fsckFat, mountImage, mtoolsExtract, prng, readAll } from './helpers.js';

const services = { now: () => ({ sec: 1700000000, nsec: 0 }), log: () => undefined, random: (b: Uint8Array) => b.fill(1), monotonic: () => 0n };

async function fresh(fat: 12 | 16 | 32, bytes: number): Promise<Uint8Array> {
  const dev = MemoryDevice.zeroed(bytes);
  await newfsMsdos(dev, { options: parseOptions({ fat }) }, services);
  return dev.bytes;
}

/**
 * The judgement after a run: every file in `want` (null: a directory) reads back through the kernel, then
 * after halt the image passes fsck.fat and mtools sees exactly that tree.
 */
async function judge(a: Awaited<ReturnType<typeof mountImage>>, p: Awaited<ReturnType<typeof mountImage>>['proc'], want: Map<string, Buffer | null>): Promise<void> {
  for (const [rel, data] of want) if (data !== null) assert.ok((await readAll(p, `/mnt/${rel}`)).equals(data), rel);
  await a.kernel.halt();
  const img = a.host.fileBytes('image')!;
  await fsckFat(img);
  const got = await mtoolsExtract(img);
  for (const [rel, data] of want) {
    if (data === null) assert.ok(got.has(rel) && got.get(rel) === null, `${rel} is a directory in mtools`);
    else assert.ok(got.get(rel)?.equals(data), `${rel} in mtools`);
  }
  assert.equal(got.size, want.size);
}

function pattern(seed: number, n: number): Buffer {
  const b = patternBytes(n, seed);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

for (const fat of [16, 32] as const) {
  test(`FAT${fat}: staged data reads back before sync; freed staged clusters become directories; fsck and mtools agree`, async () => {
    const a = await mountImage(await fresh(fat, 40 * 1024 * 1024));
    const p = a.proc;
    const want = new Map<string, Buffer | null>();
    const r = prng(fat);
    await p.mkdir('/mnt/d', 0o755);
    want.set('d', null);
    // Files of every size class, one after another (contiguous clusters: one stage), each read back at once.
    for (let i = 0; i < 300; i++) {
      const size = i % 50 === 0 ? 3 * 1024 * 1024 + 77 : Math.floor(r() * r() * 70000);
      const data = pattern(i + 1, size);
      const path = `/mnt/d/file number ${i}.bin`;
      const fd = await p.open(path, O_CREAT | O_WRONLY, 0o644);
      await p.write(fd, data);
      await p.close(fd);
      want.set(`d/file number ${i}.bin`, data);
      assert.ok((await readAll(p, path)).equals(data), `${path} before sync`);
    }
    // Unlink every other file while its data may still be staged, then make directories (which reuse
    // those clusters through the buffer cache) and more files.
    for (let i = 0; i < 300; i += 2) {
      await p.unlink(`/mnt/d/file number ${i}.bin`);
      want.delete(`d/file number ${i}.bin`);
    }
    for (let i = 0; i < 120; i++) {
      await p.mkdir(`/mnt/d/sub ${i}`, 0o755);
      want.set(`d/sub ${i}`, null);
      const data = pattern(1000 + i, 1 + Math.floor(r() * 9000));
      const fd = await p.open(`/mnt/d/sub ${i}/inner.dat`, O_CREAT | O_WRONLY, 0o644);
      await p.write(fd, data);
      await p.close(fd);
      want.set(`d/sub ${i}/inner.dat`, data);
    }
    await judge(a, p, want);
  });
}

test('small unaligned appends to interleaved files keep every byte (through the stage and around it)', async () => {
  const a = await mountImage(await fresh(32, 34 * 1024 * 1024));
  const p = a.proc;
  const names = ['/mnt/a.log', '/mnt/b.log', '/mnt/c.log'];
  const fds = await Promise.all(names.map((n) => p.open(n, O_CREAT | O_WRONLY, 0o644)));
  const shadow = names.map(() => [] as number[]);
  const r = prng(7);
  for (let i = 0; i < 600; i++) {
    const k = Math.floor(r() * names.length);
    const len = 1 + Math.floor(r() * (i % 37 === 0 ? 5000 : 300));
    const data = pattern(i, len);
    await p.write(fds[k]!, data);
    shadow[k]!.push(...data);
    if (i % 97 === 0) {
      const rfd = await p.open(names[k]!, O_RDONLY);
      const buf = new Uint8Array(shadow[k]!.length);
      assert.equal(await p.pread(rfd, buf, 0), buf.length);
      assert.deepEqual([...buf], shadow[k], `${names[k]} after ${i} writes`);
      await p.close(rfd);
    }
  }
  for (const fd of fds) await p.close(fd);
  for (let k = 0; k < names.length; k++) assert.deepEqual([...(await readAll(p, names[k]!))], shadow[k]);
  await a.kernel.halt();
  const img = a.host.fileBytes('image')!;
  await fsckFat(img);
  const got = await mtoolsExtract(img);
  for (let k = 0; k < names.length; k++) assert.deepEqual([...got.get(names[k]!.slice(5))!], shadow[k]);
});

test('a failed write of staged data is reported by sync and written by the next one', async () => {
  const mem = MemoryDevice.zeroed(34 * 1024 * 1024);
  await newfsMsdos(mem, { options: parseOptions({ fat: 32 }) }, services);
  const dev = new FaultDevice(mem, { every: 1, ops: 'write' });
  dev.enabled = false;
  const mp = await msdosfs.mount(dev, { readonly: false, options: new Map() }, services);
  const root = await mp.vget(mp.rootKey);
  const now = services.now();
  const data = pattern(3, 100_000);
  const key = await root.create('staged.bin', { type: 'reg', mode: 0o644, uid: 0, gid: 0, time: now });
  const f: VnodeImpl = await mp.vget(key);
  await f.write(data, 0, now);
  dev.enabled = true;
  await assert.rejects(mp.sync(), (e: { code?: string }) => e.code === 'EIO');
  dev.enabled = false;
  // Still readable from the stage while the device has not got it.
  const back = new Uint8Array(data.length);
  assert.equal(await f.read(back, 0), data.length);
  assert.ok(Buffer.from(back).equals(data));
  await mp.sync();
  await mp.unmount();
  await fsckFat(mem.bytes);
  assert.ok((await mtoolsExtract(mem.bytes)).get('staged.bin')?.equals(data));
});

test('directories made on a full volume take clusters freed while their data was still staged', async () => {
  // Directory clusters come from the top of the volume, file data from the bottom; once files fill the
  // volume, a new directory can only get a cluster a removed file left, whose bytes may still be staged.
  const a = await mountImage(await fresh(16, 20 * 1024 * 1024));
  const p = a.proc;
  const want = new Map<string, Buffer | null>();
  await p.mkdir('/mnt/d', 0o755);
  want.set('d', null);
  let n = 0;
  for (;; n++) {
    const rel = `d/f${n}.bin`;
    const data = pattern(n + 1, 48 * 1024 + n);
    const fd = await p.open(`/mnt/${rel}`, O_CREAT | O_WRONLY, 0o644);
    try {
      await p.write(fd, data);
      want.set(rel, data);
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'ENOSPC');
      want.set(rel, Buffer.alloc(0));
      break;
    } finally {
      await p.close(fd);
    }
  }
  assert.ok(n > 100, `${n} files filled the volume`);
  for (let i = 0; i < n; i += 2) {
    await p.unlink(`/mnt/d/f${i}.bin`);
    want.delete(`d/f${i}.bin`);
  }
  for (let i = 0; i < 40; i++) {
    await p.mkdir(`/mnt/d/sub${i}`, 0o755);
    want.set(`d/sub${i}`, null);
    const data = pattern(5000 + i, 100 + i * 37);
    const fd = await p.open(`/mnt/d/sub${i}/x.dat`, O_CREAT | O_WRONLY, 0o644);
    await p.write(fd, data);
    await p.close(fd);
    want.set(`d/sub${i}/x.dat`, data);
  }
  await judge(a, p, want);
});
