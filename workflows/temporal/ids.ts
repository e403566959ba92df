/**
 * Workflow ids. A study's id is `gantry-<study>-<plan hash>` (the hash, of its trial ids and step
 * keys, is computed by the launcher: workflow code never hashes); each trial's child workflow id
 * extends it with the trial id, so relaunching the same grid finds the same ids.
 */
export const STUDY_ID_PREFIX = 'gantry-';

export function studyWorkflowIdFrom(study: string, planHash: string): string {
  return `${STUDY_ID_PREFIX}${study}-${planHash}`;
}

export function trialWorkflowId(studyWorkflowId: string, trialId: string): string {
  return `${studyWorkflowId}-trial-${trialId}`;
}

/** Whether a workflow id names a study workflow of `study` (ids of its trials excluded). */
export function isStudyWorkflowIdOf(workflowId: string, study: string): boolean {
  const prefix = `${STUDY_ID_PREFIX}${study}-`;
  return workflowId.startsWith(prefix) && /^[0-9a-f]+$/.test(workflowId.slice(prefix.length));
}
