/**
 * `rump mount` and `rump umount`: start a kernel server with the image, mount the file system inside it,
 * and serve it at a host mount point through FUSE (a daemon process holding /dev/fuse); unmounting stops
 * the daemon, which syncs and halts the server so the image is consistent when `rumpUmount` returns.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelError } from '../kern/error.js';
import type { SyscallApi } from '../vfs/syscalls.js';
import { Bridge } from './bridge.js';
import { FuseSession, runCommand } from './fuse/session.js';

export interface RumpMountOptions {
  /** Host path of the image (a file or a block device); absent for tmpfs. */
  image?: string;
  mountpoint: string;
  /** Component name or alias (ext2fs, ext4, msdosfs, tmpfs...); probed when absent. */
  type?: string;
  /** 1-based partition number of an MBR/GPT image. */
  partition?: number;
  options?: {
    /** Read-only unless rw is true (the default is ro). */
    rw?: boolean;
    allow_other?: boolean;
    default_permissions?: boolean;
    /** Seconds the host kernel caches names/attributes/absent names (default 1). */
    entry_timeout?: number;
    attr_timeout?: number;
    negative_timeout?: number;
    /** Options for the file-system driver ("uid=1000,gid=1000,nocsum"). */
    fsOptions?: string;
    /** Where the kernel runs (default 'process': the sandboxed server). */
    isolation?: 'process' | 'worker' | 'trusted';
    /** Watchdog of the server, ms. */
    timeoutMs?: number;
    /** Module paths of extra FileSystemType components to load into the server (tests, components not yet shipped). */
    componentModules?: string[];
  };
  /** Stay in this call until unmounted (otherwise return once the mount is ready, leaving a daemon). */
  foreground?: boolean;
}

/** The daemon's whole configuration, as passed on its command line. */
export interface DaemonConfig {
  image?: string;
  mountpoint: string;
  type?: string;
  partition?: number;
  rw: boolean;
  allowOther: boolean;
  defaultPermissions: boolean;
  entryTimeout?: number;
  attrTimeout?: number;
  negativeTimeout?: number;
  fsOptions?: string;
  isolation: 'process' | 'worker' | 'trusted';
  timeoutMs?: number;
  componentModules?: string[];
}

/** Concurrent blocking reads of /dev/fuse; the daemon's libuv pool gets this many threads more than its default. */
const READERS = 4;

function stateDir(): string {
  return join(tmpdir(), 'anykernel-p2k');
}

function statePath(mountpoint: string): string {
  return join(stateDir(), encodeURIComponent(mountpoint) + '.json');
}

function canonical(mountpoint: string): string {
  try {
    return realpathSync(mountpoint);
  } catch {
    return resolve(mountpoint);
  }
}

/** The daemon entry next to this file: daemon.js when compiled, daemon.ts under tsx. */
function daemonEntry(): { script: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  if (!ts) return { script: join(dirname(here), 'daemon.js'), execArgv: [] };
  // Under tsx the daemon needs it too, found from here rather than from whatever the cwd is.
  let tsx = 'tsx';
  try {
    tsx = import.meta.resolve('tsx');
  } catch {
    // leave it to the cwd
  }
  return { script: join(dirname(here), 'daemon.ts'), execArgv: ['--import', tsx] };
}

export function toDaemonConfig(o: RumpMountOptions): DaemonConfig {
  const op = o.options ?? {};
  const cfg: DaemonConfig = {
    mountpoint: canonical(o.mountpoint),
    rw: op.rw === true,
    allowOther: op.allow_other === true,
    defaultPermissions: op.default_permissions === true,
    isolation: op.isolation ?? 'process',
  };
  if (o.image !== undefined) cfg.image = resolve(o.image);
  if (o.type !== undefined) cfg.type = o.type;
  if (o.partition !== undefined) cfg.partition = o.partition;
  if (op.entry_timeout !== undefined) cfg.entryTimeout = op.entry_timeout;
  if (op.attr_timeout !== undefined) cfg.attrTimeout = op.attr_timeout;
  if (op.negative_timeout !== undefined) cfg.negativeTimeout = op.negative_timeout;
  if (op.fsOptions) cfg.fsOptions = op.fsOptions;
  if (op.timeoutMs !== undefined) cfg.timeoutMs = op.timeoutMs;
  if (op.componentModules?.length) cfg.componentModules = op.componentModules.map((m) => resolve(m));
  return cfg;
}

/**
 * Mounts. In the background (default) a daemon process is started and this returns when the mount answers;
 * with `foreground` it returns when the file system is unmounted. Rejects with the reason the mount failed.
 */
export async function rumpMount(o: RumpMountOptions): Promise<{ pid: number }> {
  const cfg = toDaemonConfig(o);
  if (!existsSync(cfg.mountpoint)) throw new KernelError('ENOENT', `rump mount: ${o.mountpoint}: no such directory`).withContext('mount', o.mountpoint);
  if (cfg.image !== undefined && !existsSync(cfg.image)) throw new KernelError('ENOENT', `rump mount: ${o.image}: no such file`).withContext('mount', o.image);
  const { script, execArgv } = daemonEntry();
  const env = { ...process.env, UV_THREADPOOL_SIZE: String(4 + READERS + 4) };
  // P2K_DAEMON_ARGS: extra node options for the daemon (diagnostics: --cpu-prof, --inspect).
  const extra = (process.env['P2K_DAEMON_ARGS'] ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...execArgv, ...extra, script, JSON.stringify(cfg)], {
    stdio: o.foreground ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'ignore', 'pipe', 'ipc'],
    detached: !o.foreground,
    env,
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
  const ready = await new Promise<{ ok: true } | { ok: false; error: string; code?: string }>((res) => {
    child.on('message', (m: { ready?: boolean; error?: string; code?: string }) => {
      if (m.ready) res({ ok: true });
      else if (m.error !== undefined) res({ ok: false, error: m.error, ...(m.code ? { code: m.code } : {}) });
    });
    child.on('exit', (code, sig) => res({ ok: false, error: stderr.trim() || `mount daemon exited (${sig ?? code})` }));
    child.on('error', (e) => res({ ok: false, error: e.message }));
  });
  if (!ready.ok) {
    child.kill('SIGKILL');
    const code = ready.code && /^E[A-Z0-9]+$/.test(ready.code) ? ready.code : 'EIO';
    const e = new KernelError(code as 'EIO', ready.error).withContext('mount', o.mountpoint);
    e.message = `rump mount: ${ready.error}`;
    throw e;
  }
  if (o.foreground) {
    const stop = (): void => { void runCommand('umount', [cfg.mountpoint]); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    await new Promise<void>((res) => child.on('exit', () => res()));
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    return { pid: child.pid ?? 0 };
  }
  child.stderr?.destroy();
  child.disconnect();
  child.unref();
  return { pid: child.pid ?? 0 };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/**
 * Unmounts and waits for the daemon to sync and halt its kernel (so the image is consistent on return).
 * EBUSY when the mount is in use; `lazy` detaches it anyway (umount -l).
 */
export async function rumpUmount(mountpoint: string, opts: { lazy?: boolean; timeoutMs?: number } = {}): Promise<void> {
  const mp = canonical(mountpoint);
  let pid: number | undefined;
  try {
    pid = (JSON.parse(readFileSync(statePath(mp), 'utf8')) as { pid: number }).pid;
  } catch {
    pid = undefined;
  }
  const r = await runCommand('umount', opts.lazy ? ['-l', mp] : [mp]);
  if (r.code !== 0) {
    const code = /busy/i.test(r.stderr) ? 'EBUSY' : /not mounted|no mount point/i.test(r.stderr) ? 'EINVAL' : 'EIO';
    const e = new KernelError(code, r.stderr).withContext('umount', mountpoint);
    e.message = `rump umount: ${r.stderr}`;
    throw e;
  }
  if (pid === undefined) return;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (alive(pid) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  if (alive(pid)) throw new KernelError('ETIMEDOUT', `rump umount: daemon ${pid} did not finish`).withContext('umount', mountpoint);
}

// ---- the daemon side ----

interface Served {
  newProc(cred: { uid: number; gid: number }): Promise<SyscallApi>;
  halt(): Promise<void>;
  onDeath(cb: (reason: string) => void): void;
}

/** Starts the kernel server and mounts the file system at /mnt inside it. */
async function startServed(cfg: DaemonConfig): Promise<Served> {
  const { startKernel } = await import('../sysproxy/index.js');
  const images = cfg.image !== undefined ? [{ node: '/dev/img0', path: cfg.image, readonly: !cfg.rw }] : [];
  const rk = await startKernel({
    images, isolation: cfg.isolation,
    ...(cfg.timeoutMs !== undefined ? { timeoutMs: cfg.timeoutMs } : {}),
    ...(cfg.componentModules ? { extraComponentModules: cfg.componentModules } : {}),
  });
  try {
    let source: string | undefined = cfg.image !== undefined ? '/dev/img0' : undefined;
    if (source && cfg.partition !== undefined) {
      // Partitions are numbered as the table numbers them (MBR slots 1-4 and logical 5..., GPT entries), like sdaN.
      const parts = await rk.control.partitions(source);
      const part = parts.find((p) => p.index === cfg.partition);
      if (!part) throw new KernelError('ENXIO', `partition ${cfg.partition} not found (the image has ${parts.map((p) => p.index).join(', ') || 'none'})`);
      await rk.control.addWedge(source, part.index, '/dev/img0p');
      source = '/dev/img0p';
    }
    let type = cfg.type;
    if (type === undefined) {
      if (!source) type = 'tmpfs';
      else {
        const p = await rk.control.probe(source);
        if (!p) throw new KernelError('EFTYPE', 'no file system recognised on the image');
        type = p.type;
      }
    }
    const proc = await rk.newProc({ uid: 0, gid: 0 });
    const args: { source?: string; readonly: boolean; options?: string } = { readonly: !cfg.rw };
    if (source) args.source = source;
    if (cfg.fsOptions) args.options = cfg.fsOptions;
    await proc.mount(type, '/mnt', args);
    return {
      newProc: (cred) => rk.newProc(cred),
      halt: () => rk.halt(),
      onDeath: (cb) => rk.onDeath(cb),
    };
  } catch (e) {
    await rk.halt().catch(() => {});
    throw e;
  }
}

/**
 * The host kernel reads a FUSE file ahead by at most its default window (128 KiB), which INIT can only
 * lower; the backing device's read_ahead_kb in sysfs can raise it, up to what one READ may carry (max_pages).
 * Wider windows mean fewer READ requests per file, and a first READ that holds most small files whole.
 * Returns the window set in bytes, or 0 (not root, no sysfs: the default stays, nothing else changes).
 * Reads /proc/self/mountinfo only: nothing here waits on the mount's own answers.
 */
async function raiseReadahead(mountpoint: string, maxRequest: number): Promise<number> {
  try {
    const { readFile, writeFile } = await import('node:fs/promises');
    const unescape = (f: string): string => f.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').reverse()
      .find((l) => unescape(l.split(' ')[4] ?? '') === mountpoint && / - fuse(\.\S+)? /.test(l));
    const dev = line?.split(' ')[2];
    if (!dev || !/^\d+:\d+$/.test(dev)) return 0;
    const kb = Math.min(1024, Math.floor(maxRequest / 1024));
    await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(kb));
    return kb * 1024;
  } catch {
    return 0;
  }
}

function hostProtectedHardlinks(): boolean {
  try {
    return readFileSync('/proc/sys/fs/protected_hardlinks', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** The daemon's main: mount, report readiness to the parent, serve until unmounted, then halt the kernel. */
export async function runDaemon(cfg: DaemonConfig, notify: (m: object) => void, log: (line: string) => void): Promise<void> {
  let served: Served;
  try {
    served = await startServed(cfg);
  } catch (e) {
    notify({ error: (e as KernelError).detail ?? (e as Error).message, code: (e as KernelError).code });
    return;
  }
  let bridge: Bridge;
  let session: FuseSession;
  try {
    bridge = await Bridge.create({
      root: '/mnt',
      newProc: (cred) => served.newProc(cred),
      defaultPermissions: cfg.defaultPermissions,
      protectedHardlinks: hostProtectedHardlinks(),
      readonly: !cfg.rw,
      noOpen: !cfg.rw && (cfg.defaultPermissions || !cfg.allowOther),
      // A read-only mount never changes (the image is opened read-only and no atime is written), so the host
      // kernel may keep names and attributes for a minute; a writable one keeps them for a second.
      entryTimeout: cfg.entryTimeout ?? (cfg.rw ? 1 : 60),
      attrTimeout: cfg.attrTimeout ?? (cfg.rw ? 1 : 60),
      negativeTimeout: cfg.negativeTimeout ?? (cfg.rw ? 1 : 60),
    });
    session = await FuseSession.mount({
      mountpoint: cfg.mountpoint, fsname: cfg.image ?? 'tmpfs', subtype: 'rump', readonly: !cfg.rw,
      allowOther: cfg.allowOther, defaultPermissions: cfg.defaultPermissions,
      // Another node for the FUSE device (c 10 229), for hosts where /dev/fuse is not accessible to the user.
      ...(process.env['RUMP_FUSE_DEVICE'] ? { device: process.env['RUMP_FUSE_DEVICE'] } : {}),
    });
  } catch (e) {
    await served.halt().catch(() => {});
    notify({ error: (e as KernelError).detail ?? (e as Error).message, code: (e as KernelError).code ?? 'EIO' });
    return;
  }
  session.onError = log;
  const traceFile = process.env['P2K_TRACE'];
  if (traceFile) {
    const { appendFileSync } = await import('node:fs');
    session.trace = (line) => appendFileSync(traceFile, `${performance.now().toFixed(2)} ${line}\n`);
  }
  served.onDeath((reason) => {
    log(`rump mount: kernel server died (${reason}); the mount answers EIO until unmounted`);
    session.failAll('EIO');
  });
  try {
    mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
    writeFileSync(statePath(cfg.mountpoint), JSON.stringify({ pid: process.pid, image: cfg.image ?? null }));
  } catch (e) {
    // Without it rumpUmount cannot wait for the final sync; the mount itself is fine.
    log(`rump mount: cannot record the daemon (${(e as Error).message}); rump umount will not wait for it`);
  }
  const serving = session.serve(bridge, READERS);
  // INIT is answered by the readers just started; then the readahead window can be widened.
  for (let i = 0; i < 200 && session.connInfo === null; i++) await new Promise((res) => setTimeout(res, 10));
  const conn = session.connInfo;
  if (conn) {
    const ra = await raiseReadahead(cfg.mountpoint, conn.maxWrite);
    if (ra > 0) bridge.setReadahead(ra);
  }
  notify({ ready: true });
  const stop = (): void => { void runCommand('umount', [cfg.mountpoint]); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {});
  await serving;
  // P2K_STATS: a file to receive the count of requests by opcode (benchmarks, diagnostics).
  const statsFile = process.env['P2K_STATS'];
  if (statsFile) {
    try {
      writeFileSync(statsFile, JSON.stringify({ ...Object.fromEntries(session.stats), ...Object.fromEntries(Object.entries(bridge.prefetchStats).map(([k, v]) => [`prefetch-${k}`, v])) }));
    } catch (e) {
      log(`rump mount: P2K_STATS: ${(e as Error).message}`);
    }
  }
  await bridge.closeAll();
  await served.halt().catch((e: Error) => log(`rump mount: halt: ${e.message}`));
  rmSync(statePath(cfg.mountpoint), { force: true });
}
