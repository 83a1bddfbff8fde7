/**
 * How ukfs gets a kernel: sysproxy's startKernel (a sandboxed server process,
 * a worker, or in-process), so everything above this file is written once
 * against RemoteKernel whatever the isolation; and the components this build
 * has, for mkfs (newfs runs in-process on a file we create) and for naming
 * types by alias.
 */

import type { FileSystemType } from '../vfs/types.js';
import { startKernel, serve, connect } from '../sysproxy/index.js';
import type { RemoteKernel, StartOptions } from '../sysproxy/index.js';

export type { Isolation, RemoteKernel, StartOptions, KernelControl } from '../sysproxy/index.js';
export { serve, connect };

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
  const { allComponents } = await import('../fs/all.js');
  for (const c of allComponents) add(c);
  for (const name of COMPONENT_MODULES) {
    try {
      const spec = `../fs/${name}/index.js`;
      const m = (await import(spec)) as Record<string, unknown>;
      for (const v of Object.values(m)) add(v);
    } catch {
      // Not in this build.
    }
  }
  return out;
}

/** A kernel holding `opts.images`, hosted as `opts.isolation` says (default: the sandboxed server process). */
export function startKernelFor(opts: StartOptions): Promise<RemoteKernel> {
  return startKernel(opts);
}
