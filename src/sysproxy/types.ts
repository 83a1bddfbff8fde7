/**
 * The public types of sysproxy (re-exported by index.ts): what a client of a
 * remote kernel sees, whatever the isolation.
 */

import type { SyscallApi } from '../vfs/syscalls.js';
import type { ProbeResult } from '../vfs/types.js';

export type Isolation = 'process' | 'worker' | 'trusted';

export interface ServerImage {
  /** The etfs node inside the kernel: '/dev/img0'. */
  node: string;
  /** Host path of the image file or block device. */
  path: string;
  readonly: boolean;
}

export interface StartOptions {
  images: ServerImage[];
  /** Default 'process'. */
  isolation?: Isolation;
  /** Heap limit of the server (process and worker), default 512 MiB. */
  memlimitMiB?: number;
  /** Watchdog: a request with no answer for this long gets the server killed (default 30000). */
  timeoutMs?: number;
  /**
   * Default true: the client reads the data of files on read-only images from the image itself, where
   * the server answers a read with the data's place in the image (docs/sysproxy.md, Layouts) rather
   * than moving the bytes through the transport. False: every byte comes from the server.
   */
  layouts?: boolean;
  /** Module paths of extra FileSystemType components, loaded into the server. Tests only. */
  extraComponentModules?: string[];
}

export type { PartitionInfo } from '../dev/disklabel.js';
import type { PartitionInfo } from '../dev/disklabel.js';

export interface KernelControl {
  probe(node: string): Promise<ProbeResult | null>;
  partitions(node: string): Promise<PartitionInfo[]>;
  /** Registers partition `index` of `node` as a new device node `newNode`. */
  addWedge(node: string, index: number, newNode: string): Promise<void>;
  consoleLines(): Promise<string[]>;
}

export interface RemoteKernel {
  readonly isolation: Isolation;
  newProc(cred?: { uid?: number; gid?: number; groups?: number[] }): Promise<SyscallApi>;
  readonly control: KernelControl;
  /** Syncs, unmounts everything, stops the server. */
  halt(): Promise<void>;
  readonly dead: boolean;
  /** Called once if the server dies (watchdog, crash, heap limit, lost connection); not after halt(). */
  onDeath(cb: (reason: string) => void): void;
}
