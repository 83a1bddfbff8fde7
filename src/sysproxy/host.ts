/**
 * Booting the kernel a server hosts, the same way in every isolation: the
 * package's components plus any test-only extra component modules, the
 * images registered as etfs nodes through the Node hypercalls, and a
 * KernelServer in front of it.
 */

import { pathToFileURL } from 'node:url';
import { Kernel } from '../kern/kernel.js';
import { allComponents } from '../fs/all.js';
import { readPartitions } from '../dev/disklabel.js';
import { NodeHypercalls } from '../rumpuser/node.js';
import type { FileSystemType } from '../vfs/types.js';
import { KernelServer } from './server.js';
import { layoutPaths } from './layout.js';
import type { Isolation, ServerImage } from './types.js';

export interface HostConfig {
  images: ServerImage[];
  extraComponentModules: string[];
  isolation: Isolation;
}

function isComponent(v: unknown): v is FileSystemType {
  if (v === null || typeof v !== 'object') return false;
  const c = v as Partial<FileSystemType>;
  return typeof c.name === 'string' && typeof c.mount === 'function' && typeof c.needsDevice === 'boolean';
}

/** Every FileSystemType a module exports (named or default). */
export async function componentsOf(modulePath: string): Promise<FileSystemType[]> {
  const mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  return Object.values(mod).filter(isComponent);
}

/**
 * The package's components plus the extra modules' (probed first). A
 * component exported twice (named and default), or one the package already
 * ships under the same name or alias, is taken once.
 */
export async function loadComponents(extra: readonly string[]): Promise<FileSystemType[]> {
  const out: FileSystemType[] = [];
  const names = new Set<string>();
  const add = (c: FileSystemType): void => {
    const all = [c.name, ...(c.aliases ?? [])];
    if (all.some((n) => names.has(n))) return;
    for (const n of all) names.add(n);
    out.push(c);
  };
  for (const m of extra) for (const c of await componentsOf(m)) add(c);
  for (const c of allComponents) add(c);
  return out;
}

/** Boots a kernel with the images registered and returns a server for it. */
export async function hostKernel(
  cfg: HostConfig,
  opts: { components: FileSystemType[]; onHalt?: () => void; console?: (line: string) => void },
): Promise<{ server: KernelServer; kernel: Kernel }> {
  const host = new NodeHypercalls(opts.console ? { console: opts.console } : {});
  const kernel = await Kernel.boot({ components: opts.components, host });
  try {
    for (const img of cfg.images) await kernel.etfs.register(img.node, img.path, { readonly: img.readonly });
  } catch (e) {
    await kernel.halt().catch(() => undefined);
    throw e;
  }
  const server = new KernelServer(kernel, {
    isolation: cfg.isolation,
    readPartitions,
    ...(opts.onHalt ? { onHalt: opts.onHalt } : {}),
    // The client reads file data of its read-only images itself when it asks (layout.ts).
    layoutImages: layoutPaths(cfg.images),
  });
  return { server, kernel };
}
