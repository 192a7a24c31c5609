// Parsers of the commands' option values (commander's argParser): a bad value throws an error
// that names the option, which the CLI prints as one line.

import { UsageError } from "./errors.js";

/** A positive safe integer, or an error naming the option. */
export function parsePositive(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${name} wants a positive integer, not "${v}"`);
  return n;
}
