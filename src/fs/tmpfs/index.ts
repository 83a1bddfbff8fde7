/**
 * tmpfs: a complete file system kept in memory (NetBSD's tmpfs(5)). Needs no
 * device; its size limit (`size=`, default 256 MiB) and node limit (`nodes=`)
 * answer ENOSPC, and what it holds is gone at unmount.
 */

import type { FileSystemType } from '../../vfs/types.js';
import { TmpfsMount, TMPFS_MAX_FILE_SIZE, TMPFS_NAME_MAX } from './mount.js';
import { parseTmpfsOptions } from './options.js';

export const tmpfs: FileSystemType = {
  name: 'tmpfs',
  needsDevice: false,
  capabilities: { nameMax: TMPFS_NAME_MAX, maxFileSize: TMPFS_MAX_FILE_SIZE, timeResolutionNs: 1 },
  async mount(_dev, opts, k) {
    return new TmpfsMount(k, parseTmpfsOptions(opts.options));
  },
};

export { TmpfsMount } from './mount.js';
export { TmpNode } from './node.js';
export { parseSize, parseTmpfsOptions, PAGE_SIZE } from './options.js';
