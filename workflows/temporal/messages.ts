/** Query and signal definitions of gantry's workflows (names in types.ts, so clients can use strings). */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import {
  CANCEL_SIGNAL, PAUSE_SIGNAL, RESUME_SIGNAL, STEP_DONE_SIGNAL, STUDY_PROGRESS_QUERY, TRIAL_PROGRESS_QUERY,
  type StepDonePayload, type StudyProgressInfo, type TrialProgressInfo,
} from './types.js';

export const studyProgressQuery = defineQuery<StudyProgressInfo>(STUDY_PROGRESS_QUERY);
export const trialProgressQuery = defineQuery<TrialProgressInfo>(TRIAL_PROGRESS_QUERY);
export const pauseSignal = defineSignal(PAUSE_SIGNAL);
export const resumeSignal = defineSignal(RESUME_SIGNAL);
export const cancelSignal = defineSignal(CANCEL_SIGNAL);
export const stepDoneSignal = defineSignal<[StepDonePayload]>(STEP_DONE_SIGNAL);
