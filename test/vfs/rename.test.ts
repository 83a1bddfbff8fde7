// rename(2) on every file system: see suite/rename.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/rename.js';

registerCases(cases);
