// The cross-file-system suite (test/vfs/suite) on FAT12, FAT16 and FAT32, fsck.fat -n after every body.
// Not part of the regular run (the lead registers these profiles in src/fs/profiles.ts, and test/vfs runs them);
// run on its own with: node --import tsx --test test/fs/msdosfs/suite.ts
import { registerProfiles } from '../../../src/testing/fsapply.js';
import { profiles } from '../../../src/fs/msdosfs/profile.js';
import { registerCases } from '../../vfs/suite/register.js';
import { cases as access } from '../../vfs/suite/access.js';
import { cases as attrs } from '../../vfs/suite/attrs.js';
import { cases as dirs } from '../../vfs/suite/dirs.js';
import { cases as fixture } from '../../vfs/suite/fixture.js';
import { cases as io } from '../../vfs/suite/io.js';
import { cases as links } from '../../vfs/suite/links.js';
import { cases as lookup } from '../../vfs/suite/lookup.js';
import { cases as names } from '../../vfs/suite/names.js';
import { cases as readdir } from '../../vfs/suite/readdir.js';
import { cases as readonly } from '../../vfs/suite/readonly.js';
import { cases as rename } from '../../vfs/suite/rename.js';
import { cases as space } from '../../vfs/suite/space.js';
import { cases as xattr } from '../../vfs/suite/xattr.js';

registerProfiles(profiles);
registerCases([...access, ...attrs, ...dirs, ...fixture, ...io, ...links, ...lookup, ...names, ...readdir, ...readonly, ...rename, ...space, ...xattr]);
