/** Reading every file of a tree through a process's system calls, the way `tar` would. */

import { O_RDONLY } from '../src/vfs/fcntl.js';
import type { SyscallApi } from '../src/vfs/syscalls.js';

export interface WalkStats {
  files: number;
  dirs: number;
  bytes: number;
}

/** Reads every regular file under `root` with 1 MiB reads; stats everything. */
export async function readTree(p: SyscallApi, root: string): Promise<WalkStats> {
  const stats: WalkStats = { files: 0, dirs: 0, bytes: 0 };
  const buf = new Uint8Array(1024 * 1024);
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    stats.dirs++;
    for (const e of await p.readdir(dir)) {
      const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
      if (e.type === 'dir') stack.push(path);
      else if (e.type === 'reg') {
        await p.lstat(path);
        const fd = await p.open(path, O_RDONLY);
        for (;;) {
          const n = await p.read(fd, buf);
          if (n === 0) break;
          stats.bytes += n;
          if (n < buf.length) break;
        }
        await p.close(fd);
        stats.files++;
      } else await p.lstat(path);
    }
  }
  return stats;
}
