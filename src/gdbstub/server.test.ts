import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FakeMachine } from "../../test/gdb/fake-machine.js";
import { PacketDecoder, frame } from "./packet.js";
import { listenGdb, parseListenAddress, type GdbServer } from "./server.js";

/** A raw TCP client that collects reply packets. */
async function dial(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const decoder = new PacketDecoder(1 << 20);
  const replies: string[] = [];
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("data", (b) => {
    for (const ev of decoder.feed(b)) if (ev.type === "packet") replies.push(ev.payload);
  });
  const ask = async (payload: string): Promise<string> => {
    const before = replies.length;
    socket.write(frame(payload));
    for (let i = 0; i < 200 && replies.length === before; i++) await new Promise((r) => setTimeout(r, 5));
    return replies[before];
  };
  return { socket, ask, closed };
}

let server: GdbServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("gdb server address", () => {
  it("parses PORT and HOST:PORT, binding to 127.0.0.1 unless told otherwise", () => {
    expect(parseListenAddress("1234")).toEqual({ host: "127.0.0.1", port: 1234 });
    expect(parseListenAddress("0.0.0.0:1234")).toEqual({ host: "0.0.0.0", port: 1234 });
    expect(parseListenAddress("localhost:9")).toEqual({ host: "localhost", port: 9 });
    expect(parseListenAddress("[::1]:1234")).toEqual({ host: "::1", port: 1234 });
    expect(parseListenAddress(":1234")).toEqual({ host: "127.0.0.1", port: 1234 });
    expect(parseListenAddress("99999")).toBeUndefined();
    expect(parseListenAddress("host:")).toBeUndefined();
    expect(parseListenAddress("")).toBeUndefined();
  });
});

describe("gdb server", () => {
  it("answers over TCP on 127.0.0.1", async () => {
    server = await listenGdb(new FakeMachine(), { host: "127.0.0.1", port: 0 });
    expect(server.address.port).toBeGreaterThan(0);
    const c = await dial(server.address.port);
    expect(await c.ask("?")).toBe("T0504:f08f0000;05:00000000;08:00100000;thread:1;");
    c.socket.destroy();
  });

  it("turns a second client away while one is attached", async () => {
    const log: string[] = [];
    server = await listenGdb(new FakeMachine(), { host: "127.0.0.1", port: 0 }, { log: (l) => log.push(l) });
    const first = await dial(server.address.port);
    expect(await first.ask("qC")).toBe("QC1");
    const second = await dial(server.address.port);
    await second.closed;
    expect(log.some((l) => l.includes("already attached"))).toBe(true);
    expect(await first.ask("qC")).toBe("QC1");
    first.socket.destroy();
  });

  it("lets gdb reconnect after a detach or a dropped connection, with breakpoints cleared", async () => {
    const target = new FakeMachine();
    server = await listenGdb(target, { host: "127.0.0.1", port: 0 });
    const a = await dial(server.address.port);
    expect(await a.ask("Z0,1005,1")).toBe("OK");
    expect(await a.ask("D")).toBe("OK");
    await a.closed;
    expect(target.swBreaks.size).toBe(0);

    const b = await dial(server.address.port);
    expect(await b.ask("Z1,1005,1")).toBe("OK");
    b.socket.destroy();
    await b.closed;
    for (let i = 0; i < 100 && server.attached; i++) await new Promise((r) => setTimeout(r, 5));
    expect(target.hwBreaks.size).toBe(0);

    const c = await dial(server.address.port);
    expect(await c.ask("?")).toBe("T0504:f08f0000;05:00000000;08:00100000;thread:1;");
    c.socket.destroy();
  });

  it("calls its kill hook on k and closes the connection", async () => {
    let killed = false;
    server = await listenGdb(new FakeMachine(), { host: "127.0.0.1", port: 0 }, { onKill: () => (killed = true) });
    const c = await dial(server.address.port);
    c.socket.write(frame("k"));
    await c.closed;
    expect(killed).toBe(true);
  });
});
