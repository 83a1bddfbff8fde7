/**
 * Every component's test profiles: what the cross-file-system suite runs over
 * when a test file registers none of its own.
 */

import type { FsTestProfile } from '../testing/profile.js';
import { profiles as tmpfsProfiles } from './tmpfs/profile.js';
import { profiles as toyfsProfiles } from './toyfs/profile.js';

export const allProfiles: FsTestProfile[] = [...tmpfsProfiles, ...toyfsProfiles];
