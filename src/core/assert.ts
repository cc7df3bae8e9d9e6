import { ErrorCodes, FreshetError } from './errors.js';

/**
 * Checks an internal invariant. A failure is a bug in Freshet, never a user error: user input is
 * validated with coded errors instead.
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new FreshetError(ErrorCodes.ASSERTION_FAILED, `invariant violated: ${message}`);
}
