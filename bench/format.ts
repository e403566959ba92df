/** Shared formatting for benchmark lines: figure, target and ratio to target. */
export function verdict(value: number, target: number): string {
  const ratio = value / target;
  return `${value < target ? 'ok' : 'OVER'}, ${ratio.toFixed(2)}× target`;
}

export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function rate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${Math.round(perSecond / 1e3)}k`;
  return perSecond.toFixed(0);
}
