// File names and numbers on every file system: see suite/names.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/names.js';

registerCases(cases);
