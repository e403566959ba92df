/** A point of a training curve or a final metric: what trackers, the catalog and MLflow carry. */
export interface MetricPoint {
  name: string;
  step: number;
  value: number;
  /** Wall-clock time in ms since the epoch; stamped by the train step, not by detectors. */
  time?: number;
}
