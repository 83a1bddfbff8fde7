/**
 * Every file-system component this package ships, in probe order, for the
 * kernels the CLI and the server boot.
 */

import type { FileSystemType } from '../vfs/types.js';
import { tmpfs } from './tmpfs/index.js';

export const allComponents: FileSystemType[] = [tmpfs];
