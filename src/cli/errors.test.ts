import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { RecordingError } from "../replay/recording.js";
import { LinuxBootError } from "../x86/linux-boot.js";
import { ElfError } from "../x86/elf32.js";
import { ListenError } from "../gdbstub/listen.js";
import { EXIT_INTERNAL, reportOf, UsageError } from "./errors.js";

describe("errors as the user reads them", () => {
  it("reports bad input in one line, exit status 1", () => {
    for (const e of [new UsageError("--ram 4096: too much"), new RecordingError("x.rec is corrupt"), new LinuxBootError("not a bzImage"), new ElfError("not an ELF file"), new ListenError("cannot listen on nosuchhost.invalid:1: no such host")]) {
      expect(reportOf(e, false)).toEqual({ text: `afterglow: ${e.message}\n`, status: 1 });
      expect(reportOf(e, true)).toEqual({ text: `afterglow: ${e.message}\n`, status: 1 });
    }
  });

  it("says an internal error is a bug, never as if the user erred, and shows its stack only with --debug", () => {
    let err: unknown;
    try {
      (null as unknown as { kind: string }).kind.toString();
    } catch (e) {
      err = e;
    }
    const plain = reportOf(err, false);
    expect(plain.status).toBe(EXIT_INTERNAL);
    expect(plain.text).toMatch(/^afterglow: internal error \(a bug in afterglow, not in what you asked\): TypeError: Cannot read properties of null \(reading 'kind'\)\nafterglow: run the same command with --debug for the stack, and please report it\n$/);
    const debug = reportOf(err, true);
    expect(debug.text).toMatch(/^afterglow: internal error \(a bug in afterglow, not in what you asked\): TypeError: Cannot read properties of null \(reading 'kind'\)\n\s+at /);
    // A plain Error is afterglow's own message, but not one about the user's input.
    expect(reportOf(new Error("platform: no VCPU 3"), false).status).toBe(EXIT_INTERNAL);
  });

  it("leaves commander's own errors to commander (it has printed them)", () => {
    expect(reportOf(new CommanderError(1, "commander.unknownOption", "error: unknown option"), false)).toEqual({ text: "", status: 1 });
  });
});
