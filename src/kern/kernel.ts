/**
 * The kernel (NetBSD's rump.c): boot with a list of components, the root
 * file system, the mount table, etfs (host files as block devices inside the
 * kernel), processes, and halt. `Kernel.boot({ components })` is rump_init().
 *
 * Lock order (outermost first): Kernel.mountLock (mount/unmount/sync) →
 * Mount.lock of one mount at a time. Who holds references: see
 * docs/architecture.md ("References").
 */

import { KernelError } from './error.js';
import { Mutex } from './lock.js';
import { makeCred, type Cred } from './cred.js';
import type { Hypercalls } from '../rumpuser/types.js';
import { MemoryHypercalls } from '../rumpuser/memory.js';
import { HostDevice, MemoryDevice, ReadOnlyDevice, SubDevice, type BlockDevice } from '../dev/blockdev.js';
import { Mount, vref, vrele } from '../vfs/mount.js';
import { Proc } from '../vfs/proc.js';
import { rootfs } from '../vfs/rootfs.js';
import { FdTable } from '../vfs/file.js';
import type { FileSystemType, KernelServices, OptionMap, ProbeResult } from '../vfs/types.js';
import type { Vnode } from '../vfs/vnode.js';

export interface BootOptions {
  components?: readonly FileSystemType[];
  /** The hypercall implementation; defaults to in-memory (pass NodeHypercalls for host files). */
  host?: Hypercalls;
}

interface EtfsEntry {
  dev: BlockDevice;
  /** Close the backing on unregister/halt (we opened it). */
  owned: boolean;
}

/** etfs: host files (or byte ranges of them) registered as block-device nodes under the root file system. */
export class Etfs {
  private readonly devices = new Map<string, EtfsEntry>();

  constructor(private readonly kernel: Kernel) {}

  async register(
    node: string,
    backing: string | Uint8Array | BlockDevice,
    opts: { readonly?: boolean; offset?: number; size?: number } = {},
  ): Promise<BlockDevice> {
    if (!node.startsWith('/dev/') || node.slice(5).includes('/') || node.length <= 5) {
      throw new KernelError('EINVAL', `etfs: node must be /dev/NAME, not ${node}`);
    }
    if (this.devices.has(node)) throw new KernelError('EEXIST', `etfs: ${node} is already registered`);
    const ro = opts.readonly ?? false;
    let dev: BlockDevice;
    let owned = true;
    if (typeof backing === 'string') {
      const file = await this.kernel.host.open(backing, { readonly: ro });
      dev = await HostDevice.open(file, node);
    } else if (backing instanceof Uint8Array) {
      dev = new MemoryDevice(backing, { readonly: ro, name: node });
    } else {
      dev = ro && !backing.readonly ? new ReadOnlyDevice(backing) : backing;
      owned = false;
    }
    if (opts.offset !== undefined || opts.size !== undefined) {
      const start = opts.offset ?? 0;
      const size = opts.size ?? dev.size - start;
      dev = new SubDevice(dev, start, size, node, { readonly: ro });
    }
    this.devices.set(node, { dev, owned });
    await this.kernel.makeDeviceNode(node);
    return dev;
  }

  lookup(node: string): BlockDevice | undefined {
    return this.devices.get(node)?.dev;
  }

  nodes(): string[] {
    return [...this.devices.keys()];
  }

  async unregister(node: string): Promise<void> {
    const e = this.devices.get(node);
    if (!e) throw new KernelError('ENOENT', `etfs: ${node} is not registered`);
    if (this.kernel.mountsOfDevice(e.dev).length > 0) throw new KernelError('EBUSY', `etfs: ${node} is mounted`);
    this.devices.delete(node);
    await this.kernel.removeDeviceNode(node);
    if (e.owned) await e.dev.close();
  }

  async closeAll(): Promise<void> {
    for (const [node, e] of [...this.devices]) {
      this.devices.delete(node);
      if (e.owned) await e.dev.close().catch(() => undefined);
    }
  }
}

export class Kernel {
  readonly components: readonly FileSystemType[];
  readonly host: Hypercalls;
  readonly services: KernelServices;
  readonly etfs: Etfs;
  readonly consoleLines: string[] = [];
  /** Mounts in mount order; the first is the root file system. */
  readonly mounts: Mount[] = [];
  rootVnode!: Vnode;
  /** Serialises mount, unmount and sync of the whole table. */
  private readonly mountLock = new Mutex();
  private nextPid = 1;
  private readonly procs = new Map<number, Proc>();
  private halted = false;

  private constructor(opts: BootOptions) {
    this.components = [...(opts.components ?? [])];
    this.host = opts.host ?? new MemoryHypercalls();
    const host = this.host;
    const lines = this.consoleLines;
    this.services = {
      now: () => host.clockRealtime(),
      log: (line: string) => {
        lines.push(line);
        if (lines.length > 1000) lines.splice(0, lines.length - 1000);
        host.console(line);
      },
      random: (buf: Uint8Array) => host.random(buf),
      monotonic: () => host.clockMonotonic(),
    };
    this.etfs = new Etfs(this);
    const names = new Set<string>();
    for (const c of this.components) {
      for (const n of [c.name, ...(c.aliases ?? [])]) {
        if (names.has(n)) throw new KernelError('EEXIST', `component name ${n} registered twice`);
        names.add(n);
      }
    }
  }

  /** Boots a kernel: the root file system mounted, /dev and /mnt made, components registered. */
  static async boot(opts: BootOptions = {}): Promise<Kernel> {
    const k = new Kernel(opts);
    const fs = await rootfs.mount(null, { readonly: false, options: new Map() }, k.services);
    const mp = new Mount(rootfs, fs, null, new Map([['noatime', '']]), false, k.services, 'rumpfs');
    mp.rootVnode = await mp.vget(fs.rootKey);
    k.rootVnode = mp.rootVnode;
    k.mounts.push(mp);
    const p = k.newProc();
    await p.mkdir('/dev', 0o755);
    await p.mkdir('/mnt', 0o755);
    await p.exit();
    return k;
  }

  findComponent(name: string): FileSystemType | undefined {
    return this.components.find((c) => c.name === name || (c.aliases ?? []).includes(name));
  }

  /** A new process with the given credentials (default root), cwd '/'. */
  newProc(cred?: { uid?: number; gid?: number; groups?: number[] } | Cred, cwd?: Vnode, fds?: FdTable): Proc {
    if (this.halted) throw new KernelError('ESRCH', 'kernel halted');
    const p = new Proc(this, this.nextPid++, makeCred(cred ?? {}), cwd ?? this.rootVnode, fds);
    this.procs.set(p.pid, p);
    return p;
  }

  procExited(p: Proc): void {
    this.procs.delete(p.pid);
  }

  /** What file system a registered device holds: the first component whose probe answers. */
  async probe(node: string): Promise<ProbeResult | null> {
    const dev = this.etfs.lookup(node);
    if (!dev) throw new KernelError('ENXIO', `probe: ${node} is not registered`);
    const ro = dev.readonly ? dev : new ReadOnlyDevice(dev);
    for (const c of this.components) {
      if (!c.probe) continue;
      try {
        const r = await c.probe(ro);
        if (r) return r;
      } catch {
        // A probe that fails on a foreign image is a "no".
      }
    }
    return null;
  }

  async makeDeviceNode(node: string): Promise<void> {
    const p = this.newProc();
    try {
      await p.mknod(node, 0o060600, 0);
    } finally {
      await p.exit();
    }
  }

  async removeDeviceNode(node: string): Promise<void> {
    const p = this.newProc();
    try {
      await p.unlink(node).catch(() => undefined);
    } finally {
      await p.exit();
    }
  }

  mountsOfDevice(dev: BlockDevice): Mount[] {
    return this.mounts.filter((m) => m.dev !== null && (m.dev === dev || (m.dev instanceof ReadOnlyDevice && m.source === dev.name)));
  }

  /** mount(2) after the system-call checks: `covered` is a held directory vnode that nothing is mounted on. */
  async mountOn(covered: Vnode, fstype: string, source: string | undefined, readonly: boolean, options: OptionMap, path: string): Promise<void> {
    const comp = this.findComponent(fstype);
    if (!comp) throw new KernelError('ENODEV', `mount: no file-system component '${fstype}'`);
    await this.mountLock.enter();
    try {
      if (covered.mountedHere) throw new KernelError('EBUSY');
      let dev: BlockDevice | null = null;
      if (comp.needsDevice) {
        if (!source) throw new KernelError('ENOTBLK', `mount: ${fstype} needs a device`);
        const d = this.etfs.lookup(source);
        if (!d) throw new KernelError('ENXIO', `mount: ${source} is not a registered device`);
        if (!readonly && d.readonly) throw new KernelError('EROFS', `mount: ${source} is read-only`);
        const others = this.mountsOfDevice(d);
        if (others.some((m) => !m.readonly) || (!readonly && others.length > 0)) throw new KernelError('EBUSY', `mount: ${source} is already mounted`);
        dev = readonly ? new ReadOnlyDevice(d) : d;
      }
      let fs;
      try {
        fs = await comp.mount(dev, { readonly, options }, this.services);
      } catch (e) {
        if (e instanceof KernelError) throw e;
        const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        this.services.log(`panic: ${comp.name}: mount: ${msg}`);
        throw new KernelError('EIO', `${comp.name}: internal error in mount: ${msg}`);
      }
      const mp = new Mount(comp, fs, dev, options, readonly, this.services, source ?? comp.name);
      mp.path = path;
      await mp.lock.enterRead();
      try {
        mp.rootVnode = await mp.vget(fs.rootKey);
      } catch (e) {
        await fs.unmount().catch(() => undefined);
        throw e;
      } finally {
        mp.lock.exitRead();
      }
      if (mp.rootVnode.type !== 'dir') {
        await fs.unmount().catch(() => undefined);
        throw new KernelError('EFTYPE', `${comp.name}: root is not a directory`);
      }
      vref(covered);
      mp.covered = covered;
      covered.mountedHere = mp;
      this.mounts.push(mp);
    } finally {
      this.mountLock.exit();
    }
  }

  async unmountMount(mp: Mount, force: boolean): Promise<void> {
    await this.mountLock.enter();
    try {
      if (!this.mounts.includes(mp) || mp.covered === null) throw new KernelError('EINVAL');
      for (const other of this.mounts) if (other.covered && other.covered.mount === mp) throw new KernelError('EBUSY');
      if (!force && mp.busyVnodes().length > 0) throw new KernelError('EBUSY');
      await mp.lock.enterWrite();
      try {
        if (!mp.readonly) await mp.call('sync', () => mp.fs.sync());
        mp.rootVnode.usecount = 0;
        for (const vp of [...mp.vcache.values()]) {
          vp.usecount = 0;
          await mp.reclaim(vp);
        }
        mp.freeList.clear();
        await mp.call('unmount', () => mp.fs.unmount());
      } finally {
        mp.lock.exitWrite();
      }
      const covered = mp.covered;
      covered.mountedHere = null;
      mp.covered = null;
      this.mounts.splice(this.mounts.indexOf(mp), 1);
      await vrele(covered);
    } finally {
      this.mountLock.exit();
    }
  }

  /** sync(2): every writable mount is synced, even after one fails; the first failure is then reported. */
  async syncAll(): Promise<void> {
    await this.mountLock.enter();
    let failure: unknown = undefined;
    try {
      for (const mp of this.mounts) {
        if (mp.readonly) continue;
        await mp.lock.enterWrite();
        try {
          await mp.call('sync', () => mp.fs.sync());
        } catch (e) {
          failure ??= e;
        } finally {
          mp.lock.exitWrite();
        }
      }
    } finally {
      this.mountLock.exit();
    }
    if (failure !== undefined) throw failure;
  }

  /** Syncs and unmounts everything (innermost first, forcibly), closes etfs devices. Idempotent. */
  async halt(): Promise<void> {
    if (this.halted) return;
    for (const p of [...this.procs.values()]) await p.exit().catch(() => undefined);
    let firstError: unknown;
    for (let i = this.mounts.length - 1; i >= 1; i--) {
      try {
        await this.unmountMount(this.mounts[i]!, true);
      } catch (e) {
        firstError ??= e;
        this.mounts.splice(i, 1);
      }
    }
    this.halted = true;
    await this.etfs.closeAll();
    if (firstError) throw firstError;
  }

  get isHalted(): boolean {
    return this.halted;
  }
}
