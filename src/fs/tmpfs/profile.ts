/**
 * How tmpfs joins the cross-file-system suite: a fresh tmpfs of 64 MiB per
 * test body, with every capability (nothing to check after unmount: the
 * data is gone).
 */

import type { FsTestProfile } from '../../testing/profile.js';
import { tmpfs } from './index.js';

export const profiles: FsTestProfile[] = [
  {
    name: 'tmpfs',
    component: tmpfs,
    capabilities: { ...tmpfs.capabilities },
    mountOptions: 'size=64m',
  },
];
