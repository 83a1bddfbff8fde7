/**
 * Shared by the FUSE tests: a mount that is always taken down, even when the test fails (a stuck FUSE
 * mount would wedge every later test run on the machine), by rump umount, then umount -l as a last resort.
 */

import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rumpMount, rumpUmount, type RumpMountOptions } from '../../src/p2k/mount.js';

/** Whether the tests run from sources under tsx (else compiled, from dist/). */
export const FROM_SOURCES = import.meta.url.endsWith('.ts');

/** The absolute path of a module given relative to test/p2k without its extension, as sources or compiled. */
export function modulePath(rel: string): string {
  return fileURLToPath(new URL(rel + (FROM_SOURCES ? '.ts' : '.js'), import.meta.url));
}

/** How to start node on a module of this tree: with tsx when running from sources. */
export function nodeArgs(): string[] {
  return FROM_SOURCES ? ['--import', fileURLToPath(import.meta.resolve('tsx'))] : [];
}

export async function isMounted(mountpoint: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === mountpoint);
}

/** Runs a command without blocking the event loop; resolves with its exit code and output. */
export function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    let out = '';
    c.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    c.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    const t = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, out });
    });
  });
}

export async function mustSh(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  const r = await sh(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.out}`);
  return r.out;
}

export interface TestMount {
  mnt: string;
  pid: number;
  /** rump umount; umount -l if that fails; kills the daemon if it is still there. Never throws. */
  close(): Promise<void>;
}

/** Mounts with rumpMount on a fresh directory; the caller must call close() in a finally or an after hook. */
export async function openMount(opts: Omit<RumpMountOptions, 'mountpoint'>): Promise<TestMount> {
  const mnt = await mkdtemp(join(tmpdir(), 'p2k-mnt-'));
  let pid = 0;
  const close = async (): Promise<void> => {
    try {
      if (await isMounted(mnt)) await rumpUmount(mnt, { timeoutMs: 30_000 });
    } catch {
      await sh('umount', ['-l', mnt]);
    }
    if (await isMounted(mnt)) await sh('umount', ['-l', mnt]);
    if (pid) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await rm(mnt, { recursive: true, force: true });
  };
  try {
    pid = (await rumpMount({ ...opts, mountpoint: mnt })).pid;
  } catch (e) {
    await close();
    throw e;
  }
  return { mnt, pid, close };
}

/** Mounts with rumpMount on a fresh directory, runs `body`, and always unmounts. */
export async function withMount<T>(opts: Omit<RumpMountOptions, 'mountpoint'>, body: (mnt: string, pid: number) => Promise<T>): Promise<T> {
  const m = await openMount(opts);
  try {
    return await body(m.mnt, m.pid);
  } finally {
    await m.close();
  }
}
