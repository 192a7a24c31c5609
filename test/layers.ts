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
