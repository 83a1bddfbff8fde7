import { kerr } from '../../kern/error.js';
import type { BlockDevice, KernelServices, OptionMap } from '../../vfs/types.js';
export async function newfs(_dev: BlockDevice, _o: OptionMap, _k: KernelServices, _label?: string): Promise<void> {
  throw kerr('ENOSYS');
}
