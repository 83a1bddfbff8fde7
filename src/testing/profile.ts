/**
 * How a file-system component joins the cross-file-system suite: a profile
 * says how to make a fresh file system, how to mount it, what it cannot do,
 * and how to check it after each test body (the real fsck where one exists).
 */

import type { FileSystemType, FsCapabilities } from '../vfs/types.js';
import type { Proc } from '../vfs/proc.js';

export interface FsTestProfile {
  /** Shown in test names: 'tmpfs', 'ext2', 'ext4', 'fat16'. */
  readonly name: string;
  readonly component: FileSystemType;
  /** Other components the kernel needs for this profile (rarely any). */
  readonly extraComponents?: readonly FileSystemType[];
  readonly capabilities: FsCapabilities;
  /**
   * Makes a fresh, empty file-system image of about `size` bytes (default 64 MiB is the harness's choice),
   * e.g. with the component's own newfs or a real mkfs tool. Absent for components without a device (tmpfs).
   */
  makeImage?(size: number): Promise<Uint8Array>;
  /** Options for mount(2), e.g. 'size=16m' for tmpfs. */
  mountOptions?: string;
  /**
   * Checks the image after a test body has unmounted it (e2fsck -fn, fsck.fat -n, the ffs checker).
   * Throws an Error whose message holds the checker's report when the image is inconsistent.
   */
  check?(image: Uint8Array): Promise<void>;
}

/** Puts each process's cwd back at `dir` after a remount (with root's rights, whatever its own). */
export async function chdirAsRoot(procs: readonly Proc[], dir: string): Promise<void> {
  for (const p of procs) {
    const cred = p.cred;
    p.cred = { uid: 0, gid: 0, groups: [0] };
    try {
      await p.chdir(dir);
    } finally {
      p.cred = cred;
    }
  }
}
