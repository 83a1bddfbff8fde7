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
export { RecordingDevice, applyWrites, type LogEntry } from './recorder.js';
export { crashSimulate, crashSummary, type CrashReport, type CrashSimOptions, type Workload, type WorkloadContext } from './crashsim.js';
export { faultCampaign, faultRound, faultSummary, type FaultBody, type FaultCampaignOptions, type FaultReport, type FaultRound, type FaultViolation, type FaultViolationKind } from './faults.js';
export { fuzzCampaign, fuzzSummary, runImage, makeMutations, applyMutations, shrink, type FuzzTarget, type Mutation, type Violation } from './fuzz.js';
export { saveReproducer, loadReproducers, type Reproducer } from './corpus.js';
export { testCommand, selectTests } from './runner.js';
export { Prng } from './prng.js';
