/**
 * Every file-system component this package ships, in probe order, for the
 * kernels the CLI and the server boot.
 */

import type { FileSystemType } from '../vfs/types.js';
import { ext2fs } from './ext2fs/index.js';
import { msdosfs } from './msdosfs/index.js';
import { ffs } from './ffs/index.js';
import { cd9660 } from './cd9660/index.js';
import { tmpfs } from './tmpfs/index.js';
import { toyfs } from './toyfs/index.js';

export const allComponents: FileSystemType[] = [ext2fs, msdosfs, ffs, cd9660, tmpfs, toyfs];
