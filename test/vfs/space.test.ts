// statvfs, sync and a full file system on every file system: see suite/space.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/space.js';

registerCases(cases);
