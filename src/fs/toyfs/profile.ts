/** toyfs in the cross-file-system suite: made by its own newfs, checked by its own checker after each body. */

import { MemoryDevice } from '../../dev/blockdev.js';
import type { FsTestProfile } from '../../testing/profile.js';
import { fsckToyfs } from './fsck.js';
import { newfs, toyfs } from './index.js';

export const profiles: FsTestProfile[] = [
  {
    name: 'toyfs',
    component: toyfs,
    capabilities: { ...toyfs.capabilities },
    async makeImage(size) {
      const dev = MemoryDevice.zeroed(Math.min(size, 8 * 1024 * 1024));
      await newfs(dev);
      return dev.bytes;
    },
    async check(img) {
      const problems = fsckToyfs(img);
      if (problems.length > 0) throw new Error(`toyfs check:\n${problems.join('\n')}`);
    },
  },
];
