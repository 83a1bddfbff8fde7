// The cross-file-system suite (test/vfs/suite) on ffs only: UFS1 and UFS2 from our newfs, checked after every body.
// Not part of the regular run (about 2.5 minutes): `node --import tsx --test test/fs/ffs/suite-run.ts`.
import { registerProfiles } from '../../../src/testing/fsapply.js';
import { profiles } from '../../../src/fs/ffs/profile.js';
import { registerCases } from '../../vfs/suite/register.js';
import { cases as access } from '../../vfs/suite/access.js';
import { cases as attrs } from '../../vfs/suite/attrs.js';
import { cases as dirs } from '../../vfs/suite/dirs.js';
import { cases as io } from '../../vfs/suite/io.js';
import { cases as links } from '../../vfs/suite/links.js';
import { cases as lookup } from '../../vfs/suite/lookup.js';
import { cases as names } from '../../vfs/suite/names.js';
import { cases as readdir } from '../../vfs/suite/readdir.js';
import { cases as rename } from '../../vfs/suite/rename.js';
import { cases as space } from '../../vfs/suite/space.js';

registerProfiles(profiles);
for (const c of [access, attrs, dirs, io, links, lookup, names, readdir, rename, space]) registerCases(c);
