// TypeScript lines and the JavaScript tsc built from them, through the build's source maps
// (tsconfig.json: sourceMap): how a breakpoint by `src/vmm/io.ts:54` becomes one by the V8
// inspector's script URL and line, and a paused JavaScript frame becomes a TypeScript line.

import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { SourceMapConsumer } from "source-map-js";

/** The repository: dist/src/inspect/ is three folders down. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

const consumers = new Map<string, SourceMapConsumer>();

function consumerOf(js: string): SourceMapConsumer {
  let c = consumers.get(js);
  if (c === undefined) {
    c = new SourceMapConsumer(JSON.parse(readFileSync(js + ".map", "utf8")));
    consumers.set(js, c);
  }
  return c;
}

/** A TypeScript file (relative to the repository, e.g. src/vmm/io.ts) and its build. */
export function builtOf(ts: string): { js: string; url: string } {
  const js = join(ROOT, "dist", ts.replace(/\.ts$/, ".js"));
  return { js, url: pathToFileURL(js).href };
}

/**
 * Where TypeScript line `line` (1-based) of `ts` starts in its build: the script URL and the
 * 0-based line and column the inspector takes, or null when no code of that line was emitted.
 */
export function jsLocationOf(ts: string, line: number): { url: string; lineNumber: number; columnNumber: number } | null {
  const { js, url } = builtOf(ts);
  const c = consumerOf(js);
  const source = c.sources.find((s) => resolve(dirname(js), s) === resolve(ROOT, ts));
  if (source === undefined) return null;
  const g = c.generatedPositionFor({ source, line, column: 0, bias: SourceMapConsumer.LEAST_UPPER_BOUND });
  if (g.line === null) return null;
  return { url, lineNumber: g.line - 1, columnNumber: g.column ?? 0 };
}

/** The TypeScript file (relative to the repository) and 1-based line of a script location, or null outside our build. */
export function tsLocationOf(url: string, lineNumber: number, columnNumber: number): { file: string; line: number } | null {
  if (!url.startsWith("file:")) return null;
  const js = fileURLToPath(url);
  if (!js.startsWith(join(ROOT, "dist") + "/")) return null;
  let c: SourceMapConsumer;
  try {
    c = consumerOf(js);
  } catch {
    return null;
  }
  const o = c.originalPositionFor({ line: lineNumber + 1, column: columnNumber });
  if (o.source === null || o.line === null) return null;
  return { file: relative(ROOT, resolve(dirname(js), o.source)), line: o.line };
}
