/**
 * Test helper: assertions that an operation fails with a {@link PeerlinkError}
 * of one {@link ErrorCode}, synchronously or as a rejected promise.
 *
 * @module
 */
import { expect } from "vitest";
import { isPeerlinkError, type ErrorCode, type PeerlinkError } from "../../src/errors.js";

/**
 * Asserts that `fn()` throws a PeerlinkError with `code` (not returning, or
 * throwing anything else, fails the test with what was thrown) and returns it.
 */
export function throwsWithCode(fn: () => unknown, code: ErrorCode): PeerlinkError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(isPeerlinkError(error, code), String(error)).toBe(true);
  return error as PeerlinkError;
}

/**
 * Asserts that `promise` rejects with a PeerlinkError with `code` (resolving,
 * or rejecting with anything else, fails the test with the reason) and returns it.
 */
export async function rejectsWithCode(promise: Promise<unknown>, code: ErrorCode): Promise<PeerlinkError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPeerlinkError(error, code), String(error)).toBe(true);
  return error as PeerlinkError;
}
