/**
 * Every component's test profiles for the cross-file-system suite.
 *
 * `fastProfiles` are what a plain test run covers: tmpfs and toyfs boot and
 * check in milliseconds, so the whole suite stays well under a minute.
 * The device-backed profiles (ext2, ext4, FAT12/16/32, UFS1/2, ISO 9660) make
 * a real image and run the real checker after each body (0.2-0.7 s a body);
 * `RUMP_FS=ext4,fat32,...` or `RUMP_FS=all` selects them.
 */

import type { FsTestProfile } from '../testing/profile.js';
import { profiles as tmpfsProfiles } from './tmpfs/profile.js';
import { profiles as toyfsProfiles } from './toyfs/profile.js';
import { profiles as ext2fsProfiles } from './ext2fs/profile.js';
import { profiles as msdosfsProfiles } from './msdosfs/profile.js';
import { profiles as ffsProfiles } from './ffs/profile.js';
import { profiles as cd9660Profiles } from './cd9660/profile.js';

export const fastProfiles: FsTestProfile[] = [...tmpfsProfiles, ...toyfsProfiles];

export const allProfiles: FsTestProfile[] = [
  ...fastProfiles,
  ...ext2fsProfiles,
  ...msdosfsProfiles,
  ...ffsProfiles,
  ...cd9660Profiles,
];
