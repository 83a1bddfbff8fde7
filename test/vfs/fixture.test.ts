// Read-only checks over a fixed tree on every file system: see suite/fixture.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/fixture.js';

registerCases(cases);
