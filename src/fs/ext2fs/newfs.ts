/**
 * mkfs for ext2/3/4 (NetBSD's newfs_ext2fs, Linux's mke2fs). Placeholder until the writer exists.
 */

import type { BlockDevice } from '../../dev/blockdev.js';
import { kerr } from '../../kern/error.js';
import type { KernelServices, NewfsOptions } from '../../vfs/types.js';

export async function newfs(_dev: BlockDevice, _opts: NewfsOptions, _k: KernelServices): Promise<void> {
  throw kerr('ENOSYS', 'ext2fs: newfs is not implemented yet');
}
