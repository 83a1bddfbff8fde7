// Symbolic and hard links on every file system: see suite/links.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/links.js';

registerCases(cases);
