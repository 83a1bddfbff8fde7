// Extended attributes on every file system: see suite/xattr.ts.
import { registerCases } from './suite/register.js';
import { cases } from './suite/xattr.js';

registerCases(cases);
