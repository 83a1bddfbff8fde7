/**
 * Bench data for sysproxy: stat round-trip latency (one at a time, and 32 in
 * flight) and read throughput in 1 MiB preads, for a local kernel called
 * directly and for a remote one in each isolation. The file lives in tmpfs
 * so the numbers are the cost of the hosting, not of a disk driver.
 *
 *   node --import tsx test/sysproxy/bench/roundtrip.ts      (or the compiled .js under dist/)
 */

import { Kernel } from '../../../src/kern/kernel.js';
import { allComponents } from '../../../src/fs/all.js';
import { NodeHypercalls } from '../../../src/rumpuser/node.js';
import { startKernel, type Isolation } from '../../../src/sysproxy/index.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../../../src/vfs/fcntl.js';
import type { SyscallApi } from '../../../src/vfs/syscalls.js';

const FILE_MIB = 64;
const STATS = 20_000;

async function measure(p: SyscallApi): Promise<{ statUs: number; statParUs: number; readMiBs: number }> {
  await p.mount('tmpfs', '/mnt', { options: 'size=256m' });
  const fd = await p.open('/mnt/f', O_CREAT | O_WRONLY, 0o644);
  const chunk = new Uint8Array(1024 * 1024).map((_, i) => i);
  for (let i = 0; i < FILE_MIB; i++) await p.write(fd, chunk);
  await p.close(fd);
  for (let i = 0; i < 1000; i++) await p.stat('/mnt/f');
  let t = process.hrtime.bigint();
  for (let i = 0; i < STATS; i++) await p.stat('/mnt/f');
  const statUs = Number(process.hrtime.bigint() - t) / 1000 / STATS;
  t = process.hrtime.bigint();
  for (let i = 0; i < STATS / 32; i++) await Promise.all(Array.from({ length: 32 }, () => p.stat('/mnt/f')));
  const statParUs = Number(process.hrtime.bigint() - t) / 1000 / STATS;
  const rfd = await p.open('/mnt/f', O_RDONLY);
  const buf = new Uint8Array(1024 * 1024);
  const passes = 4;
  t = process.hrtime.bigint();
  for (let pass = 0; pass < passes; pass++) {
    for (let off = 0; off < FILE_MIB * 1024 * 1024; off += buf.length) {
      if ((await p.pread(rfd, buf, off)) !== buf.length) throw new Error('short read');
    }
  }
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  await p.close(rfd);
  return { statUs, statParUs, readMiBs: (passes * FILE_MIB) / s };
}

function line(name: string, r: { statUs: number; statParUs: number; readMiBs: number }, base?: { statUs: number; readMiBs: number }): string {
  const rel = base ? `  (stat ×${(r.statUs / base.statUs).toFixed(1)}, read ${((r.readMiBs / base.readMiBs) * 100).toFixed(0)}% of local)` : '';
  return `${name.padEnd(26)} stat ${r.statUs.toFixed(1).padStart(6)} us  stat×32 ${r.statParUs.toFixed(1).padStart(5)} us/op  read 1 MiB ${r.readMiBs.toFixed(0).padStart(5)} MiB/s${rel}`;
}

const k = await Kernel.boot({ components: allComponents, host: new NodeHypercalls() });
const local = await measure(k.newProc());
await k.halt();
console.log(line('local kernel (direct Proc)', local));
for (const isolation of ['trusted', 'worker', 'process'] as Isolation[]) {
  const rk = await startKernel({ images: [], isolation });
  const r = await measure(await rk.newProc());
  await rk.halt();
  console.log(line(isolation, r, local));
}
