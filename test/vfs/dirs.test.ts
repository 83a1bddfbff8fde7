// Directory creation and removal on every file system: see suite/dirs.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/dirs.js';

registerCases(cases);
