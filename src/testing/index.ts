/**
 * anykernel/testing: what a driver author needs to test a file-system
 * component — fsApply over profiles, the real tools as oracles, fault
 * injection.
 */

export { fsApply, registerProfiles, registeredProfiles, runBody, setupFs, teardownFs, missingRequirements } from './fsapply.js';
export type { FsTestContext, FsApplyOptions, Requirement } from './fsapply.js';
export type { FsTestProfile } from './profile.js';
export { requireTool, run, tempDir } from './tools.js';
export { FaultDevice } from '../dev/fault.js';
export type { FaultOptions } from '../dev/fault.js';
