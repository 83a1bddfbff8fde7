// Path lookup on every file system: see suite/lookup.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/lookup.js';

registerCases(cases);
