/**
 * Single-fault sweeps for the drivers' regression tests: a call is run once per I/O it makes, with that one
 * I/O failing, and afterwards (faults off) the mounted tree must still agree with itself — no inode named
 * more times than its link count, no directory with fewer links than 2 + its subdirectories, every listed
 * name found. A driver that leaves a half-done change in memory fails here (found by `rump faults`).
 */

import { KernelError } from '../../src/kern/error.js';
import { Kernel } from '../../src/kern/kernel.js';
import { DeviceWrapper, MemoryDevice } from '../../src/dev/blockdev.js';
import { MemoryHypercalls } from '../../src/rumpuser/memory.js';
import { O_CREAT, O_WRONLY } from '../../src/vfs/fcntl.js';
import type { Proc } from '../../src/vfs/proc.js';
import type { FileSystemType } from '../../src/vfs/types.js';

/** Fails the n-th I/O of the chosen kind after `arm(n)` (1-based), once. */
export class NthFault extends DeviceWrapper {
  private n = 0;
  private count = 0;
  ops: 'read' | 'write' | 'both' = 'both';
  /** Whether the armed I/O was reached. */
  hit = false;

  arm(n: number, ops: 'read' | 'write' | 'both' = 'both'): void {
    this.n = n;
    this.count = 0;
    this.hit = false;
    this.ops = ops;
  }

  disarm(): void {
    this.n = 0;
  }

  private fails(op: 'read' | 'write'): boolean {
    if (this.n === 0 || (this.ops !== 'both' && this.ops !== op)) return false;
    if (++this.count !== this.n) return false;
    this.hit = true;
    return true;
  }

  override async read(buf: Uint8Array, offset: number): Promise<void> {
    if (this.fails('read')) throw new KernelError('EIO', `injected read fault at ${offset}`);
    return this.dev.read(buf, offset);
  }

  override async write(buf: Uint8Array, offset: number): Promise<void> {
    if (this.fails('write')) throw new KernelError('EIO', `injected write fault at ${offset}`);
    return this.dev.write(buf, offset);
  }
}

/** What is wrong with the link counts and names of the tree under `root`, as the mounted file system shows it. */
export async function linkProblems(p: Proc, root: string): Promise<string[]> {
  const out: string[] = [];
  const byIno = new Map<number, { names: string[]; nlink: number }>();
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let subdirs = 0;
    for (const e of await p.readdir(dir)) {
      if (e.name === '.' || e.name === '..') continue;
      const path = `${dir}/${e.name}`;
      let st;
      try {
        st = await p.lstat(path);
      } catch (err) {
        out.push(`${path}: listed, lstat ${(err as { code?: string }).code}`);
        continue;
      }
      if ((st.mode & 0o170000) === 0o040000) {
        subdirs++;
        stack.push(path);
      } else {
        const n = byIno.get(st.ino) ?? { names: [], nlink: st.nlink };
        n.names.push(path);
        byIno.set(st.ino, n);
      }
    }
    const st = await p.lstat(dir);
    if (st.nlink < 2 + subdirs) out.push(`${dir}: ${st.nlink} links, ${subdirs} subdirectories`);
  }
  for (const [ino, n] of byIno) if (n.names.length > n.nlink) out.push(`inode ${ino}: named ${n.names.join(', ')}, ${n.nlink} link(s)`);
  return out;
}

export interface SweepStep {
  /** The failing I/O's number, and whether the call failed. */
  n: number;
  error: string | null;
  problems: string[];
}

/**
 * For n = 1, 2, ...: a fresh kernel on a copy of `image`, `setup` run (and, when `cold`, the file system
 * mounted again: nothing cached), then `call` with the n-th I/O failing; stops at the first n the call does
 * not reach.
 */
export async function sweep(
  component: FileSystemType,
  image: Uint8Array,
  setup: (p: Proc) => Promise<void>,
  call: (p: Proc) => Promise<unknown>,
  cold = true,
): Promise<SweepStep[]> {
  const steps: SweepStep[] = [];
  for (let n = 1; n < 500; n++) {
    const dev = new NthFault(new MemoryDevice(image.slice(), { name: '/dev/img0' }));
    const k = await Kernel.boot({ components: [component], host: new MemoryHypercalls() });
    try {
      await k.etfs.register('/dev/img0', dev);
      const p = k.newProc();
      await p.mount(component.name, '/mnt', { source: '/dev/img0' });
      await setup(p);
      if (cold) {
        await p.unmount('/mnt');
        await p.mount(component.name, '/mnt', { source: '/dev/img0' });
      }
      dev.arm(n);
      let error: string | null = null;
      try {
        await call(p);
      } catch (e) {
        error = (e as { code?: string }).code ?? String(e);
      }
      dev.disarm();
      if (!dev.hit) break;
      const problems = await linkProblems(p, '/mnt');
      for (const l of k.consoleLines) if (l.startsWith('panic:')) problems.push(l);
      steps.push({ n, error, problems });
    } finally {
      await k.halt().catch(() => undefined);
    }
  }
  return steps;
}

async function put(p: Proc, path: string, n: number): Promise<void> {
  const fd = await p.open(path, O_CREAT | O_WRONLY, 0o644);
  await p.write(fd, new Uint8Array(n).fill(n & 0xff));
  await p.close(fd);
}

/** The calls every driver's sweep covers: those that change names and link counts (`hardlinks`: only where there are). */
export const NAME_CALLS: { name: string; hardlinks?: boolean; setup: (p: Proc) => Promise<void>; call: (p: Proc) => Promise<unknown> }[] = [
  {
    name: 'mkdir',
    setup: async (p) => {
      await p.mkdir('/mnt/a');
      await p.mkdir('/mnt/a/sub');
      await put(p, '/mnt/a/keep', 3000);
    },
    call: (p) => p.mkdir('/mnt/a/new'),
  },
  {
    name: 'create',
    setup: async (p) => {
      await p.mkdir('/mnt/a');
      await put(p, '/mnt/a/keep', 3000);
    },
    call: (p) => put(p, '/mnt/a/new', 5000),
  },
  {
    name: 'rename of a directory to another parent',
    setup: async (p) => {
      for (const d of ['/mnt/a', '/mnt/b', '/mnt/a/d', '/mnt/a/d/e']) await p.mkdir(d);
      await put(p, '/mnt/a/d/f', 2000);
    },
    call: (p) => p.rename('/mnt/a/d', '/mnt/b/d'),
  },
  {
    name: 'rename over a file',
    setup: async (p) => {
      await p.mkdir('/mnt/a');
      await put(p, '/mnt/a/x', 1000);
      await put(p, '/mnt/a/y', 2000);
    },
    call: (p) => p.rename('/mnt/a/x', '/mnt/a/y'),
  },
  {
    name: 'rename over an empty directory in another parent',
    setup: async (p) => {
      for (const d of ['/mnt/a', '/mnt/b', '/mnt/a/d', '/mnt/b/t']) await p.mkdir(d);
    },
    call: (p) => p.rename('/mnt/a/d', '/mnt/b/t'),
  },
  {
    name: 'rmdir',
    setup: async (p) => {
      for (const d of ['/mnt/a', '/mnt/a/d']) await p.mkdir(d);
    },
    call: (p) => p.rmdir('/mnt/a/d'),
  },
  {
    name: 'link',
    hardlinks: true,
    setup: async (p) => {
      for (const d of ['/mnt/a', '/mnt/b']) await p.mkdir(d);
      await put(p, '/mnt/a/x', 1000);
    },
    call: (p) => p.link('/mnt/a/x', '/mnt/b/y'),
  },
  {
    name: 'unlink',
    setup: async (p) => {
      await p.mkdir('/mnt/a');
      await put(p, '/mnt/a/x', 1000);
    },
    call: (p) => p.unlink('/mnt/a/x'),
  },
];
