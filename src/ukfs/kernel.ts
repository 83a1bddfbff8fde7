/**
 * How ukfs gets a kernel: through sysproxy's startKernel (a sandboxed server
 * process, a worker, or in-process), or — where sysproxy is not built in — a
 * local kernel dressed as a RemoteKernel, so everything above this file is
 * written once against one interface.
 */

import { Kernel } from '../kern/kernel.js';
import { KernelError } from '../kern/error.js';
import { NodeHypercalls } from '../rumpuser/node.js';
import { readPartitions, type PartitionInfo } from '../dev/disklabel.js';
import type { FileSystemType } from '../vfs/types.js';
import type { SyscallApi } from '../vfs/syscalls.js';
import type { KernelControl, RemoteKernel, StartOptions } from '../sysproxy/types.js';

export type { Isolation, RemoteKernel, StartOptions, KernelControl } from '../sysproxy/types.js';

/** What sysproxy's index exports (loaded by name so ukfs builds while sysproxy is being written). */
export interface SysproxyModule {
  startKernel(opts: StartOptions): Promise<RemoteKernel>;
  serve(opts: StartOptions & { listen: string }): Promise<{ close(): Promise<void> }>;
  connect(url: string): Promise<RemoteKernel>;
}

let sysproxyModule: Promise<SysproxyModule | null> | undefined;

/** sysproxy's entry points, or null when that module is not present in this build. */
export function loadSysproxy(): Promise<SysproxyModule | null> {
  sysproxyModule ??= (async () => {
    const spec = '../sysproxy/index.js';
    try {
      const m = (await import(spec)) as Partial<SysproxyModule>;
      return typeof m.startKernel === 'function' ? (m as SysproxyModule) : null;
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('sysproxy')) return null;
      throw e;
    }
  })();
  return sysproxyModule;
}

const COMPONENT_MODULES = ['ext2fs', 'msdosfs', 'cd9660', 'ffs', 'tmpfs'];

/**
 * Every file-system component of this build: src/fs/all.ts, plus any component whose index module
 * exists but all.ts does not list yet (each component once, all.ts's order first).
 */
export async function loadComponents(): Promise<FileSystemType[]> {
  const out: FileSystemType[] = [];
  const add = (v: unknown) => {
    if (v && typeof v === 'object' && typeof (v as FileSystemType).mount === 'function' && typeof (v as FileSystemType).name === 'string' && 'needsDevice' in v) {
      if (!out.some((c) => c.name === (v as FileSystemType).name)) out.push(v as FileSystemType);
    }
  };
  try {
    const spec = '../fs/all.js';
    const m = (await import(spec)) as { allComponents?: FileSystemType[] };
    for (const c of m.allComponents ?? []) add(c);
  } catch {
    // Fall through to the components one by one.
  }
  for (const name of COMPONENT_MODULES) {
    try {
      const spec = `../fs/${name}/index.js`;
      const m = (await import(spec)) as Record<string, unknown>;
      for (const v of Object.values(m)) add(v);
    } catch {
      // Not built yet.
    }
  }
  return out;
}

/** A kernel in this process, behind the RemoteKernel interface (what `--trusted` means without sysproxy). */
export async function startLocalKernel(opts: StartOptions, components?: FileSystemType[]): Promise<RemoteKernel> {
  const k = await Kernel.boot({ components: components ?? (await loadComponents()), host: new NodeHypercalls() });
  try {
    for (const img of opts.images) await k.etfs.register(img.node, img.path, { readonly: img.readonly });
  } catch (e) {
    await k.halt().catch(() => undefined);
    throw e;
  }
  const device = (node: string) => {
    const d = k.etfs.lookup(node);
    if (!d) throw new KernelError('ENXIO', `${node} is not registered`);
    return d;
  };
  const control: KernelControl = {
    probe: (node) => k.probe(node),
    partitions: async (node): Promise<PartitionInfo[]> => readPartitions(device(node)),
    addWedge: async (node, index, newNode) => {
      const dev = device(node);
      const p = (await readPartitions(dev)).find((x) => x.index === index);
      if (!p) throw new KernelError('ENXIO', `${node} has no partition ${index}`);
      await k.etfs.register(newNode, dev, { offset: p.start, size: p.size, readonly: dev.readonly });
    },
    consoleLines: async () => [...k.consoleLines],
  };
  let halted = false;
  return {
    isolation: 'trusted',
    control,
    newProc: async (cred): Promise<SyscallApi> => k.newProc(cred),
    halt: async () => {
      if (halted) return;
      halted = true;
      await k.halt();
    },
    get dead() {
      return false;
    },
    onDeath: () => undefined,
  };
}

/** A kernel for `opts`: sysproxy's when it is built in, else a local one (isolation then reads 'trusted'). */
export async function startKernelFor(opts: StartOptions): Promise<RemoteKernel> {
  const sp = await loadSysproxy();
  if (sp) return sp.startKernel(opts);
  return startLocalKernel(opts);
}
