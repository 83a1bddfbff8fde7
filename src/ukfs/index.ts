/**
 * ukfs: open a disk image and get a Volume with node:fs/promises-shaped calls
 * (NetBSD's ukfs(3)). Boots a kernel — by default in a sandboxed server
 * process — registers the image, picks the partition, probes the file system,
 * and mounts it on /mnt; the same Volume whatever the isolation.
 *
 * Partition choice: `partition` when given; else the whole device when there
 * is no partition table; else the only partition holding a file system some
 * component recognises (more than one is an error asking for `partition`).
 */

import { stat as hostStat } from 'node:fs/promises';
import { KernelError, isKernelError } from '../kern/error.js';
import { strerror, type Errno } from '../kern/errno.js';
import { HostDevice, SubDevice, type BlockDevice } from '../dev/blockdev.js';
import { identifyForeign } from '../dev/identify.js';
import { isExtendedContainer, partitionTypeName, type PartitionInfo } from '../dev/disklabel.js';
import { NodeHypercalls } from '../rumpuser/node.js';
import type { ProbeResult, StatVfs } from '../vfs/types.js';
import type { SyscallApi } from '../vfs/syscalls.js';
import { loadComponents, startKernelFor, type Isolation, type RemoteKernel } from './kernel.js';
import { Volume } from './volume.js';

export * from './volume.js';
export { startKernelFor, loadComponents, serve, connect } from './kernel.js';
export type { Isolation, RemoteKernel } from './kernel.js';
export type { PartitionInfo } from '../dev/disklabel.js';

export interface OpenOptions {
  /** Component name or alias; probed when absent. */
  type?: string;
  /** Partition index (1..4 primary / GPT slot, 5.. logical); 0 is the whole device. */
  partition?: number;
  /** Default true: the image is never written. */
  readonly?: boolean;
  /** Default 'process' (the sandboxed server). */
  isolation?: Isolation;
  memlimitMiB?: number;
  timeoutMs?: number;
  /** Mount options as `-o` spells them. */
  options?: string;
  /** Credentials of the kernel process doing the calls (default root inside the kernel). */
  cred?: { uid?: number; gid?: number; groups?: number[] };
  /** Tests only: extra component modules loaded into the server. */
  extraComponentModules?: string[];
}

export interface VolumeInfo {
  image: string;
  isolation: Isolation;
  readonly: boolean;
  /** The partition mounted, or null for the whole device. */
  partition: PartitionInfo | null;
  /** The component that mounted it. */
  type: string;
  probe: ProbeResult | null;
}

const IMAGE_NODE = '/dev/img0';
const MOUNT_POINT = '/mnt';


/** A Volume over a disk image, with what was opened and how. */
export class ImageVolume extends Volume {
  /** Why the server died, once it has (watchdog, heap limit, crash). */
  deathReason: string | undefined;

  constructor(
    proc: SyscallApi,
    readonly kernel: RemoteKernel,
    private readonly information: VolumeInfo,
    onClose: () => Promise<void>,
  ) {
    super(proc, MOUNT_POINT, onClose);
    kernel.onDeath((reason) => {
      this.deathReason = reason;
    });
  }

  info(): VolumeInfo {
    return { ...this.information };
  }

  /** The kernel's console: driver diagnostics naming corrupt structures. */
  consoleLines(): Promise<string[]> {
    return this.kernel.control.consoleLines();
  }
}

function fail(code: Errno, image: string, detail: string): KernelError {
  const e = new KernelError(code, detail);
  e.withContext('open', image);
  e.message = `${image}: ${detail}`;
  return e;
}

/** A read-only device over the host image (or one partition of it), for the client-side signature check. */
async function hostDevice(path: string, p: PartitionInfo | null): Promise<BlockDevice> {
  const dev = await HostDevice.open(await new NodeHypercalls().open(path, { readonly: true }), path);
  if (!p) return dev;
  const size = Math.min(p.size, dev.size - p.start);
  return new SubDevice(dev, p.start, Math.max(0, size), `${path}p${p.index}`);
}

/** The name of a foreign format (NTFS, LUKS...) on the image or partition, read here without mounting. */
export async function identifyForeignOnImage(path: string, p: PartitionInfo | null): Promise<string | null> {
  let dev: BlockDevice | undefined;
  try {
    dev = await hostDevice(path, p);
    return await identifyForeign(dev);
  } catch {
    return null;
  } finally {
    await dev?.close().catch(() => undefined);
  }
}

interface Selected {
  node: string;
  partition: PartitionInfo | null;
  probe: ProbeResult | null;
}

/** The component name for a type or alias ('ext4' -> 'ext2fs', 'vfat' -> 'msdosfs'), as this build knows them. */
async function canonicalType(type: string): Promise<string> {
  const c = (await loadComponents()).find((x) => x.name === type || (x.aliases ?? []).includes(type));
  return c?.name ?? type;
}

async function selectPartition(k: RemoteKernel, image: string, opts: Pick<OpenOptions, 'type' | 'partition'>, IMAGE_NODE: string): Promise<Selected> {
  const wedgeNode = (index: number) => `${IMAGE_NODE}p${index}`;
  // Partition 0 is the whole device, whatever table it holds (an isohybrid image, a damaged table).
  if (opts.partition === 0) return { node: IMAGE_NODE, partition: null, probe: opts.type ? null : await k.control.probe(IMAGE_NODE) };
  const parts = await k.control.partitions(IMAGE_NODE);
  if (opts.partition !== undefined) {
    if (parts.length === 0) throw fail('ENXIO', image, 'has no partition table (-p 0 is the whole device)');
    const p = parts.find((x) => x.index === opts.partition);
    if (!p) throw fail('ENXIO', image, `has no partition ${opts.partition} (it has ${parts.map((x) => x.index).join(', ')})`);
    if (isExtendedContainer(p)) throw fail('EINVAL', image, `partition ${p.index} is an extended partition (its logical partitions are 5 and up)`);
    await k.control.addWedge(IMAGE_NODE, p.index, wedgeNode(p.index));
    return { node: wedgeNode(p.index), partition: p, probe: opts.type ? null : await k.control.probe(wedgeNode(p.index)) };
  }
  if (parts.length === 0) return { node: IMAGE_NODE, partition: null, probe: opts.type ? null : await k.control.probe(IMAGE_NODE) };
  const candidates = parts.filter((p) => !isExtendedContainer(p));
  const wanted = opts.type === undefined ? undefined : await canonicalType(opts.type);
  const found: Selected[] = [];
  for (const p of candidates) {
    await k.control.addWedge(IMAGE_NODE, p.index, wedgeNode(p.index));
    const r = await k.control.probe(wedgeNode(p.index));
    if (r && (wanted === undefined || r.type === wanted)) found.push({ node: wedgeNode(p.index), partition: p, probe: r });
  }
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    const list = found.map((f) => `${f.partition!.index} (${f.probe!.variant ?? f.probe!.type})`).join(', ');
    throw fail('EINVAL', image, `has ${found.length} file systems, in partitions ${list}: choose one with -p N`);
  }
  // Nothing in the partitions: an isohybrid or similar image may hold a file system on the whole device.
  const whole = await k.control.probe(IMAGE_NODE);
  if (whole) return { node: IMAGE_NODE, partition: null, probe: whole };
  if (candidates.length === 1) {
    const p = candidates[0]!;
    return { node: wedgeNode(p.index), partition: p, probe: null };
  }
  const names: string[] = [];
  for (const p of candidates) {
    const f = await identifyForeignOnImage(image, p);
    names.push(`${p.index}: ${f ?? partitionTypeName(p.type)}`);
  }
  throw fail('ENODEV', image, `no partition holds a file system we can mount (${names.join('; ')})`);
}

/**
 * Opens a disk image: boots a kernel (sandboxed unless `isolation` says otherwise), finds the file
 * system and mounts it; read-only unless `readonly: false`.
 */
export async function openImage(path: string, opts: OpenOptions = {}): Promise<ImageVolume> {
  const ro = opts.readonly ?? true;
  const isolation = opts.isolation ?? 'process';
  const k = await startKernelFor({
    images: [{ node: IMAGE_NODE, path, readonly: ro }],
    isolation,
    ...(opts.memlimitMiB !== undefined ? { memlimitMiB: opts.memlimitMiB } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.extraComponentModules ? { extraComponentModules: opts.extraComponentModules } : {}),
  });
  try {
    const proc = await k.newProc(opts.cred);
    const { partition, type, probe } = await mountDisk(k, proc, { node: IMAGE_NODE, path, mountPoint: MOUNT_POINT, readonly: ro, ...pick(opts) });
    const info: VolumeInfo = { image: path, isolation: k.isolation, readonly: ro, partition, type, probe };
    return new ImageVolume(proc, k, info, () => k.halt());
  } catch (e) {
    await k.halt().catch(() => undefined);
    throw e;
  }
}

function pick(o: OpenOptions): { type?: string; partition?: number; options?: string } {
  const r: { type?: string; partition?: number; options?: string } = {};
  if (o.type !== undefined) r.type = o.type;
  if (o.partition !== undefined) r.partition = o.partition;
  if (o.options !== undefined) r.options = o.options;
  return r;
}

/**
 * Finds the file system on a registered disk `node` (host image `path`, for messages and the
 * foreign-format check) and mounts it on `mountPoint` through `proc`.
 */
export async function mountDisk(
  k: RemoteKernel,
  proc: SyscallApi,
  d: { node: string; path: string; mountPoint: string; readonly: boolean; type?: string; partition?: number; options?: string },
): Promise<{ partition: PartitionInfo | null; type: string; probe: ProbeResult | null }> {
  const sel = await selectPartition(k, d.path, d, d.node);
  let type = d.type;
  const where = sel.partition ? ` (partition ${sel.partition.index})` : '';
  if (type === undefined) {
    if (!sel.probe) {
      const foreign = await identifyForeignOnImage(d.path, sel.partition);
      if (foreign) throw fail('EFTYPE', d.path, `${foreign}${where} is not supported: no component can mount it`);
      throw fail('EFTYPE', d.path, `no recognised file system${where}`);
    }
    type = sel.probe.type;
  }
  try {
    await proc.mount(type, d.mountPoint, { source: sel.node, readonly: d.readonly, ...(d.options ? { options: d.options } : {}) });
  } catch (e) {
    if (!isKernelError(e)) throw e;
    throw fail(e.code, d.path, `cannot mount${where} as ${type}: ${e.detail ?? strerror(e.code)}`);
  }
  return { partition: sel.partition, type, probe: sel.probe };
}

/** What `rump info` shows about one partition (or the whole device). */
export interface PartitionReport {
  partition: PartitionInfo | null;
  typeName: string | null;
  fs: ProbeResult | null;
  /** A format we recognise but cannot mount. */
  foreign: string | null;
  usage: StatVfs | null;
  /** Why it could not be probed or mounted. */
  error: string | null;
}

export interface ImageReport {
  image: string;
  size: number;
  scheme: 'mbr' | 'gpt' | null;
  isolation: Isolation;
  entries: PartitionReport[];
}

/** Everything about an image without choosing: partitions, file systems, labels, UUIDs, usage. Read-only. */
export async function inspectImage(path: string, opts: Pick<OpenOptions, 'isolation' | 'memlimitMiB' | 'timeoutMs' | 'extraComponentModules'> = {}): Promise<ImageReport> {
  const size = (await hostStat(path)).size;
  const k = await startKernelFor({
    images: [{ node: IMAGE_NODE, path, readonly: true }],
    isolation: opts.isolation ?? 'process',
    ...(opts.memlimitMiB !== undefined ? { memlimitMiB: opts.memlimitMiB } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.extraComponentModules ? { extraComponentModules: opts.extraComponentModules } : {}),
  });
  try {
    const parts = await k.control.partitions(IMAGE_NODE);
    const proc = await k.newProc();
    const entries: PartitionReport[] = [];
    const one = async (node: string, p: PartitionInfo | null, mountDir: string): Promise<PartitionReport> => {
      const r: PartitionReport = { partition: p, typeName: p ? partitionTypeName(p.type) : null, fs: null, foreign: null, usage: null, error: null };
      if (p && isExtendedContainer(p)) return r;
      try {
        r.fs = await k.control.probe(node);
        if (!r.fs) {
          r.foreign = await identifyForeignOnImage(path, p);
          return r;
        }
        await proc.mkdir(mountDir, 0o755);
        await proc.mount(r.fs.type, mountDir, { source: node, readonly: true });
        try {
          r.usage = await proc.statvfs(mountDir);
        } finally {
          await proc.unmount(mountDir).catch(() => undefined);
        }
      } catch (e) {
        if (!isKernelError(e)) throw e;
        r.error = e.detail ?? e.message;
      }
      return r;
    };
    const wedgeNode = (index: number) => `${IMAGE_NODE}p${index}`;
    if (parts.length === 0) entries.push(await one(IMAGE_NODE, null, '/info0'));
    for (const p of parts) {
      if (!isExtendedContainer(p)) await k.control.addWedge(IMAGE_NODE, p.index, wedgeNode(p.index));
      entries.push(await one(wedgeNode(p.index), p, `/info${p.index}`));
    }
    return { image: path, size, scheme: parts[0]?.scheme ?? null, isolation: k.isolation, entries };
  } finally {
    await k.halt().catch(() => undefined);
  }
}

/** A Volume over a running kernel's whole namespace (RUMP_SERVER=... rump ls /mnt/...). */
export function kernelVolume(k: RemoteKernel, proc: SyscallApi, closeKernel = false): Volume {
  return new Volume(proc, '', async () => {
    if (closeKernel) await k.halt();
  });
}
