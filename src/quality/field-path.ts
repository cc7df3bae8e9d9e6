import { ErrorCodes, FreshetError } from '../core/errors.js';
import type { FieldPath } from '../plan/quality-check.js';

/**
 * A field path split once into its steps, so reading it per record is a loop over property names with
 * no string work.
 *
 * @example
 * ```ts
 * const path = compileFieldPath('user.address.city');
 * readField({ user: { address: { city: 'Oslo' } } }, path) // 'Oslo'
 * ```
 */
export type CompiledPath = readonly string[];

/**
 * Splits and validates a dotted path (`a.b.0.c`); empty steps are refused.
 *
 * @example
 * ```ts
 * compileFieldPath('items.0.price') // ['items', '0', 'price']
 * ```
 */
export function compileFieldPath(path: FieldPath): CompiledPath {
  if (typeof path !== 'string' || path.length === 0) {
    throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `a field path must be a non-empty string, got ${JSON.stringify(path)}`);
  }
  const steps = path.split('.');
  if (steps.some((s) => s.length === 0)) throw new FreshetError(ErrorCodes.INVALID_ARGUMENT, `field path '${path}' has an empty step`);
  return steps;
}

/**
 * The value at a compiled path, `undefined` when a step is missing or a non-object is in the way.
 *
 * @example
 * ```ts
 * readField({ a: [{ b: 1 }] }, compileFieldPath('a.0.b')) // 1
 * ```
 */
export function readField(value: unknown, path: CompiledPath): unknown {
  let current = value;
  for (let i = 0; i < path.length; i++) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[path[i]!];
  }
  return current;
}
