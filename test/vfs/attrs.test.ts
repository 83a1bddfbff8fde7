// Attributes and timestamps on every file system: see suite/attrs.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/attrs.js';

registerCases(cases);
