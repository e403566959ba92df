/**
 * gantry's error vocabulary. A `UserError` is bad input the user can fix (a malformed spec,
 * a missing dataset file, NaN in data, an unwritable store): it is shown as one line, is never
 * retried, and maps to a non-zero exit code. Anything else is an internal or transient failure:
 * retried by the executor, shown in full with --verbose.
 *
 * This module is a leaf: datasets/, models/ and experiments/ may import it.
 */
export class UserError extends Error {
  readonly hint?: string;
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.hint = opts.hint;
  }
}

/**
 * The machine, not the input, is at fault: a full disk, a read-only or unwritable file, missing
 * permissions. Shown as one line naming the path and what to do, like a UserError, but it exits 1
 * (the input was fine; running again once the fault is fixed works) and the executors may retry it.
 */
export class EnvironmentError extends Error {
  readonly hint?: string;
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'EnvironmentError';
    this.hint = opts.hint;
  }
}

/** File-system error codes that are the machine's fault (permissions, a read-only or full disk), not the input's. */
const MACHINE_FAULT_CODES: ReadonlySet<string> = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'EFBIG']);
export const isMachineFault = (e: unknown): boolean => MACHINE_FAULT_CODES.has((e as NodeJS.ErrnoException)?.code ?? '');

export function isEnvironmentError(e: unknown): e is EnvironmentError {
  return e instanceof EnvironmentError || (e instanceof Error && e.name === 'EnvironmentError');
}

/** Raised when work is stopped on purpose (Ctrl-C, cancel); never retried, not a failure of the step. */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError || (e instanceof Error && e.name === 'UserError');
}

/** One line for the user: the message, then the hint if any. */
export function oneLine(e: unknown): string {
  if (e instanceof Error) {
    const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
    // A zod error's message is a JSON dump; say it as 'path: message; …' instead.
    if (e.name === 'ZodError' && Array.isArray(issues)) {
      return 'invalid value: ' + issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
    }
    const hint = (e as UserError).hint;
    return hint ? `${e.message} (${hint})` : e.message;
  }
  return String(e);
}
