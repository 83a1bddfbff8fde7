/**
 * Shared pieces of the sysproxy tests: fixture module paths (compiled .js
 * when the tests run from dist/, .ts under tsx) and a local kernel to
 * compare a remote one against.
 */

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kernel } from '../../src/kern/kernel.js';
import { allComponents } from '../../src/fs/all.js';
import { NodeHypercalls } from '../../src/rumpuser/node.js';
import type { SyscallApi } from '../../src/vfs/syscalls.js';

export function fixture(name: string): string {
  const js = fileURLToPath(new URL(`./fixtures/${name}.js`, import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url));
}

/** A local kernel (the oracle for "same results remotely"), with its images registered. */
export async function localKernel(images: { node: string; path: string; readonly: boolean }[] = []): Promise<{ kernel: Kernel; newProc: (cred?: { uid?: number; gid?: number; groups?: number[] }) => Promise<SyscallApi> }> {
  const kernel = await Kernel.boot({ components: allComponents, host: new NodeHypercalls() });
  for (const i of images) await kernel.etfs.register(i.node, i.path, { readonly: i.readonly });
  return { kernel, newProc: async (cred) => kernel.newProc(cred) };
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())]);
}
