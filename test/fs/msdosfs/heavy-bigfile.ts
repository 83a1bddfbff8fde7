/**
 * Heavy acceptance check, kept out of the regular suite (it moves several GiB):
 *   node --import tsx test/fs/msdosfs/heavy-bigfile.ts [MiB]      (default 2048)
 * Makes a FAT32 image with mkfs.fat (a sparse host file), puts a file of that size in with mcopy, reads it
 * back through the kernel (host file via etfs) and compares every byte; then writes a second file of the
 * same size through the kernel, checks the image with fsck.fat -n, extracts it with mcopy and compares.
 * Prints the times, and mcopy's for the same transfers.
 */

import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Kernel } from '../../../src/kern/kernel.js';
import { NodeHypercalls } from '../../../src/rumpuser/node.js';
import { msdosfs } from '../../../src/fs/msdosfs/index.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import { run, tempDir } from '../../../src/testing/tools.js';
import { MTOOLS_ENV } from './helpers.js';

const MiB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 2048);
const size = sizeMiB * MiB;
const CHUNK = 8 * MiB;

/** Deterministic content: chunk i is a pattern seeded by i. */
function chunk(i: number, seed: number): Uint8Array {
  const b = new Uint8Array(CHUNK);
  const v = new Uint32Array(b.buffer);
  let s = (i * 2654435761 + seed) >>> 0 || 1;
  for (let k = 0; k < v.length; k++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    v[k] = s;
  }
  return b;
}

async function main(): Promise<void> {
  const t = await tempDir('msdosfs-heavy-');
  try {
    const src = join(t.path, 'big.bin');
    const img = join(t.path, 'fat32.img');
    const fh = await open(src, 'w');
    const want = createHash('sha256');
    for (let i = 0; i * CHUNK < size; i++) {
      const c = chunk(i, 1).subarray(0, Math.min(CHUNK, size - i * CHUNK));
      want.update(c);
      await fh.write(c, 0, c.length, i * CHUNK);
    }
    await fh.close();
    const wantHash = want.digest('hex');
    const imgKiB = Math.ceil((size * 2.2) / 1024) + 64 * 1024;
    await run('mkfs.fat', ['-F', '32', '-C', img, String(imgKiB)]);
    let t0 = Date.now();
    await run('mcopy', ['-i', img, src, '::/BIG.BIN'], { env: MTOOLS_ENV });
    console.log(`mcopy in of ${sizeMiB} MiB: ${Date.now() - t0} ms`);

    const kernel = await Kernel.boot({ components: [msdosfs], host: new NodeHypercalls() });
    await kernel.etfs.register('/dev/img0', img);
    const proc = kernel.newProc();
    await proc.mount('msdosfs', '/mnt', { source: '/dev/img0' });
    t0 = Date.now();
    const got = createHash('sha256');
    const buf = new Uint8Array(CHUNK);
    let fd = await proc.open('/mnt/big.bin', O_RDONLY);
    for (let off = 0; ; ) {
      const n = await proc.pread(fd, buf, off);
      if (n === 0) break;
      got.update(buf.subarray(0, n));
      off += n;
    }
    await proc.close(fd);
    const readMs = Date.now() - t0;
    if (got.digest('hex') !== wantHash) throw new Error('kernel read of the mcopy-written file differs');
    console.log(`kernel read of ${sizeMiB} MiB: ${readMs} ms (${((sizeMiB * 1000) / readMs).toFixed(0)} MiB/s), identical`);

    t0 = Date.now();
    fd = await proc.open('/mnt/Written By Kernel.bin', O_CREAT | O_WRONLY, 0o644);
    for (let i = 0; i * CHUNK < size; i++) {
      const c = chunk(i, 1).subarray(0, Math.min(CHUNK, size - i * CHUNK));
      await proc.pwrite(fd, c, i * CHUNK);
    }
    await proc.close(fd);
    await kernel.halt();
    console.log(`kernel write of ${sizeMiB} MiB: ${Date.now() - t0} ms`);

    const fsck = await run('fsck.fat', ['-n', img], { allowFail: true });
    if (fsck.code !== 0) throw new Error(`fsck.fat -n exited ${fsck.code}: ${fsck.stdout.toString()}`);
    const out = join(t.path, 'out.bin');
    t0 = Date.now();
    await run('mcopy', ['-n', '-i', img, '::/Written By Kernel.bin', out], { env: MTOOLS_ENV });
    console.log(`mcopy out of ${sizeMiB} MiB: ${Date.now() - t0} ms`);
    if ((await stat(out)).size !== size) throw new Error('mcopy extracted a file of the wrong size');
    const check = createHash('sha256');
    const oh = await open(out, 'r');
    for (let off = 0; off < size; off += CHUNK) {
      const { bytesRead } = await oh.read(buf, 0, CHUNK, off);
      check.update(buf.subarray(0, bytesRead));
    }
    await oh.close();
    if (check.digest('hex') !== wantHash) throw new Error('mcopy extraction of the kernel-written file differs');
    console.log('fsck.fat -n clean; mcopy extraction of the kernel-written file identical');
  } finally {
    await t.cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
