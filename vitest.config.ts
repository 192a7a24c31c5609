// The tests run the production code as tsc builds it into dist/ (test/support/build.ts builds it
// first), loaded by Node itself, not the TypeScript under src/ as Vite transforms it, under which
// the interpreter is four to five times slower (4 MIPS against 15 to 20 on a Linux boot). Vite's
// module runner turns every use of an imported name into a read of a getter on the exporting
// module's object, and its per-file TypeScript transform cannot inline a `const enum` imported
// from another file as tsc does: `Flag.CF` becomes `__vite_ssr_import_0__.Flag.CF`, and the CPU's
// hot paths are full of both. (tsconfig.build.json keeps the enums' objects too, for the tests,
// which still go through Vite and read them at run time.)

import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vitest/config";

const ROOT = fileURLToPath(new URL(".", import.meta.url));
const SRC = join(ROOT, "src");
const BUILT = join(ROOT, "dist", "src");

/**
 * Resolves each production module under src/ to its build under dist/src/. Test scaffolding in a
 * `testing/` folder (a fake platform, hand-built messages) is not part of the build
 * (tsconfig.build.json): Vite runs it from source, and what it imports from production, built.
 */
function builtSources(): Plugin {
  return {
    name: "afterglow:built-sources",
    enforce: "pre",
    async resolveId(source, importer, options) {
      const r = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (!r || r.external) return null;
      const file = r.id.split("?")[0];
      if (!file.startsWith(SRC + "/") || !file.endsWith(".ts") || file.endsWith(".test.ts") || file.includes("/testing/")) return null;
      return join(BUILT, relative(SRC, file).replace(/\.ts$/, ".js"));
    },
  };
}

export default defineConfig({
  plugins: [builtSources()],
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    pool: "forks",
    // Every core: Vitest's default leaves one idle, which on CI's two cores runs the files one at
    // a time (a Linux boot test is single-threaded JavaScript for most of its minutes).
    maxWorkers: availableParallelism(),
    globalSetup: ["test/support/build.ts"],
    // Node loads the built modules (and so their imports of one another) natively.
    server: { deps: { external: [/\/dist\/src\//] } },
    // Stack traces through the built modules point at the TypeScript (dist/ has source maps).
    execArgv: ["--enable-source-maps"],
    // Watch mode: Vite no longer sees the modules under src/, so a change to one reruns every
    // test file (each in a fresh process, after the global setup's rebuild).
    forceRerunTriggers: ["**/package.json/**", "**/{vitest,vite}.config.*/**", "**/tsconfig*.json", "**/src/**/!(*.test).ts"],
  },
});
