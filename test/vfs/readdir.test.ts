// Directory reading on every file system: see suite/readdir.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/readdir.js';

registerCases(cases);
