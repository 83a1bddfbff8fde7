// Read-only mounts and persistence across remounts on every file system: see suite/readonly.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/readonly.js';

registerCases(cases);
