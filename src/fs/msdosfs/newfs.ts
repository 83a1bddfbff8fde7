/** newfs for FAT (placeholder). */
import { kerr } from '../../kern/error.js';
import type { BlockDevice, KernelServices, NewfsOptions } from '../../vfs/types.js';
export async function newfsMsdos(_dev: BlockDevice, _opts: NewfsOptions, _k: KernelServices): Promise<void> {
  throw kerr('ENOSYS');
}
