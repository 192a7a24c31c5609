import { describe, expect, it } from "vitest";
import { count, monitorDispatcher, parseNumberArg } from "./monitor.js";

const monitor = monitorDispatcher([
  { name: "when", help: "the current position", run: () => "icount 42\n" },
  { name: "exits", args: "[N]", help: "the last N VM exits", run: (a) => `exits ${a.join(",")}\n` },
  { name: "l4", args: "WHAT", help: "the kernel", run: (a) => `l4 ${a.join(",")}\n` },
  { name: "l4 threads", help: "L4 threads and their states", run: (a) => `threads ${a.length}\n` },
]);

describe("monitor commands", () => {
  it("lists every command with its arguments and help, help first", () => {
    const help = monitor("help") as string;
    const lines = help.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^help\s+list the monitor commands$/);
    expect(lines).toContainEqual(expect.stringMatching(/^exits \[N\]\s+the last N VM exits$/));
    expect(lines).toHaveLength(5);
    expect(monitor("")).toBe(help);
  });

  it("sets help beside each synopsis, but puts a long synopsis on a line of its own rather than pad every line to it", () => {
    const long = "break-l4 [ipc|switch|fault|irq|entry|mapo|exception|vm]] | clear";
    const help = monitorDispatcher([
      { name: "when", help: "the current position", run: () => "" },
      { name: "break-l4", args: long.slice("break-l4 ".length), help: "stop at L4 kernel events", run: () => "" },
    ])("help") as string;
    expect(help).toBe(`help  list the monitor commands\nwhen  the current position\n${long}\n      stop at L4 kernel events\n`);
    expect(help).not.toMatch(/ \n/);
  });

  it("counts in the singular for one: 1 checkpoint, 2 checkpoints", () => {
    expect([0, 1, 2].map((n) => count(n, "checkpoint"))).toEqual(["0 checkpoints", "1 checkpoint", "2 checkpoints"]);
  });

  it("passes the words after the command as arguments", () => {
    expect(monitor("exits 5")).toBe("exits 5\n");
    expect(monitor("  exits   5  io ")).toBe("exits 5,io\n");
    expect(monitor("when")).toBe("icount 42\n");
  });

  it("refuses words after a command that takes no arguments, rather than ignore them", () => {
    expect(monitor("when extra")).toEqual({ error: "invalid", message: 'when: expected no arguments, not "extra"' });
    expect(monitor("l4 threads all now")).toEqual({ error: "invalid", message: 'l4 threads: expected no arguments, not "all now"' });
    expect(monitor("help when")).toEqual({ error: "invalid", message: 'help: expected no arguments, not "when"' });
    expect(monitor("  when  ")).toBe("icount 42\n");
  });

  it("prefers the longest matching command name", () => {
    expect(monitor("l4 threads")).toBe("threads 0\n");
    expect(monitor("l4 spaces")).toBe("l4 spaces\n");
  });

  it("answers an unknown command with an error that points at help", () => {
    expect(monitor("frob 1")).toEqual({ error: "invalid", message: 'unknown monitor command "frob 1"; try "monitor help"' });
  });

  it("parses decimal and hex number arguments", () => {
    expect(parseNumberArg("5")).toBe(5);
    expect(parseNumberArg("0x3f8")).toBe(0x3f8);
    expect(parseNumberArg("x")).toBeUndefined();
    expect(parseNumberArg(undefined)).toBeUndefined();
  });
});
