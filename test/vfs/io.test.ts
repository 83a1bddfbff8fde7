// File I/O on every file system: see suite/io.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/io.js';

registerCases(cases);
