// Access checks for unprivileged users on every file system: see suite/access.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/access.js';

registerCases(cases);
