/**
 * Kernel benchmarks: boot plus tmpfs mount, the latency of a cached stat,
 * and creating, writing and reading 10,000 small files on tmpfs.
 */

import { Kernel } from '../src/kern/kernel.js';
import { tmpfs } from '../src/fs/tmpfs/index.js';
import { O_CREAT, O_RDONLY, O_WRONLY } from '../src/vfs/fcntl.js';
import { median, timeMs, type Result } from './lib.js';

export async function kernelBenchmarks(): Promise<Result[]> {
  const out: Result[] = [];

  // Boot + mount: many samples, median.
  const boots: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = process.hrtime.bigint();
    const k = await Kernel.boot({ components: [tmpfs] });
    await k.newProc().mount('tmpfs', '/mnt');
    boots.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await k.halt();
  }
  out.push({ name: 'kernel boot + tmpfs mount', value: median(boots.slice(20)), unit: 'ms' });

  // Cached stat of a path four components deep.
  {
    const k = await Kernel.boot({ components: [tmpfs] });
    const p = k.newProc();
    await p.mount('tmpfs', '/mnt');
    await p.mkdir('/mnt/a');
    await p.mkdir('/mnt/a/b');
    const fd = await p.open('/mnt/a/b/file', O_CREAT | O_WRONLY);
    await p.close(fd);
    const samples: number[] = [];
    const n = 20000;
    for (let round = 0; round < 7; round++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await p.stat('/mnt/a/b/file');
      samples.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    }
    out.push({ name: 'stat of a cached path (/mnt/a/b/file)', value: median(samples.slice(1)), unit: 'us' });
    await k.halt();
  }

  // 10,000 small files: create+write, then read back.
  {
    const data = new Uint8Array(1000).fill(7);
    const buf = new Uint8Array(4096);
    let k: Kernel;
    const create = await timeMs(async () => {
      k = await Kernel.boot({ components: [tmpfs] });
      const p = k.newProc();
      await p.mount('tmpfs', '/mnt');
      for (let d = 0; d < 100; d++) {
        await p.mkdir(`/mnt/d${d}`);
        for (let f = 0; f < 100; f++) {
          const fd = await p.open(`/mnt/d${d}/f${f}`, O_CREAT | O_WRONLY, 0o644);
          await p.write(fd, data);
          await p.close(fd);
        }
      }
    }, 3, 1);
    const read = await timeMs(async () => {
      const p = k.newProc();
      for (let d = 0; d < 100; d++) {
        for (let f = 0; f < 100; f++) {
          const fd = await p.open(`/mnt/d${d}/f${f}`, O_RDONLY);
          await p.read(fd, buf);
          await p.close(fd);
        }
      }
      await p.exit();
    }, 3, 1);
    await k!.halt();
    out.push({ name: 'tmpfs: create+write 10,000 files of 1 KB', value: create, unit: 'ms' });
    out.push({ name: 'tmpfs: open+read+close 10,000 files', value: read, unit: 'ms' });
  }
  return out;
}
