// Source-level facts about the layers, shared by the determinism and import-boundary tests.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

export const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");

/** Production TypeScript files under `dir` (tests excluded), as paths relative to the root. */
export function sourceFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  let names: string[];
  try {
    names = readdirSync(abs);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const p = join(abs, n);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(relative(ROOT, p)));
    else if (n.endsWith(".ts") && !n.endsWith(".test.ts")) out.push(relative(ROOT, p));
  }
  return out;
}

/** Module specifiers a file imports (static, dynamic and re-exports). */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;
  for (let m; (m = re.exec(text)) !== null; ) specs.push(m[1] ?? m[2] ?? m[3]);
  return specs;
}

/** The layer (top folder under src/) a relative import from `file` lands in, or the package name. */
export function targetOf(file: string, spec: string): string {
  if (!spec.startsWith(".")) return spec.startsWith("node:") ? spec : `pkg:${spec.split("/")[0]}`;
  const target = relative(join(ROOT, "src"), resolve(join(ROOT, dirname(file)), spec));
  return target.startsWith("..") ? `outside:${target}` : target.split("/")[0];
}

/** The module a relative import from `file` lands on, relative to src/ without its extension. */
export function targetModuleOf(file: string, spec: string): string {
  return relative(join(ROOT, "src"), resolve(join(ROOT, dirname(file)), spec)).replace(/\.(?:js|ts)$/, "");
}

export function read(file: string): string {
  return readFileSync(join(ROOT, file), "utf8");
}

/** Strips comments and string/template literal contents so patterns match code only. */
export function codeOnly(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "")
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
}

/**
 * Module specifiers a file imports at run time: as importsOf, less the imports of types only
 * (`import type`, or braces whose every name is `type X`), which TypeScript erases.
 */
export function runtimeImportsOf(text: string): string[] {
  const typeOnly = /(?:^|\s)(?:import|export)\s+type\s[^'"]*?from\s*["']([^"']+)["']|(?:^|\s)(?:import|export)\s*\{([^}]*)\}\s*from\s*["']([^"']+)["']/gm;
  const erased: string[] = [];
  for (let m; (m = typeOnly.exec(text)) !== null; ) {
    if (m[1] !== undefined) erased.push(m[1]);
    else if (m[2].split(",").every((n) => n.trim() === "" || /^type\s/.test(n.trim()))) erased.push(m[3]);
  }
  const all = importsOf(text);
  for (const spec of erased) all.splice(all.indexOf(spec), 1);
  return all;
}

/**
 * The import graph of the production modules under `dir`: each file (relative to the root) to the
 * files it imports at run time (static, dynamic and re-exports; not type-only imports), within `dir`.
 */
export function importGraph(dir = "src"): Map<string, string[]> {
  const files = sourceFiles(dir);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const targets = runtimeImportsOf(read(f))
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(ROOT, resolve(join(ROOT, dirname(f)), spec)).replace(/\.js$/, ".ts"))
      .filter((t) => known.has(t));
    graph.set(f, [...new Set(targets)]);
  }
  return graph;
}

/**
 * The import cycles of a graph: one cycle (a path that returns to its first module) for each
 * strongly connected group of modules that import one another, found by Tarjan's algorithm.
 */
export function importCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      group.push(w);
      if (w === v) break;
    }
    if (group.length > 1 || (graph.get(v) ?? []).includes(v)) groups.push(group);
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  // Within each group, the shortest way from its first module (in name order) back to itself.
  return groups.map((group) => {
    const members = new Set(group);
    const start = [...group].sort()[0];
    const from = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift()!;
      for (const w of graph.get(v) ?? []) {
        if (!members.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let u = v; u !== start; u = from.get(u)!) path.splice(1, 0, u);
          return [...path, start];
        }
        if (!from.has(w)) {
          from.set(w, v);
          queue.push(w);
        }
      }
    }
    return [start, start];
  });
}
