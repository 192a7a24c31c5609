// The transport: a TCP listener that serves one gdb at a time. A second client is turned away
// while one is attached (two debuggers steering one machine would fight): each packet it sends is
// answered with an `E.` error that says why, which gdb prints ("Remote failure reply: E.…"), and
// the connection is closed. When the client detaches or drops, the listener stays up so gdb can
// reconnect.

import { createServer, type Server, type Socket } from "node:net";
import { PacketDecoder, frame } from "./packet.js";
import { GdbConnection, type StubOptions } from "./stub.js";
import type { DebugTarget } from "./target.js";
import { listenOn, type ListenAddress } from "./listen.js";

export type { ListenAddress } from "./listen.js";

/** `PORT` or `HOST:PORT` (IPv6 hosts in brackets); 127.0.0.1 unless a host is given. */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = m[1] === undefined || m[1] === "" ? "127.0.0.1" : m[1].replace(/^\[|\]$/g, "");
  return { host, port };
}

export interface ServerOptions extends StubOptions {
  /** gdb sent `k`. */
  onKill?: () => void;
  /** A client attached or went away. */
  onClient?: (event: "connect" | "disconnect", remote: string) => void;
}

export interface GdbServer {
  /** The address actually bound (port 0 picks a free one). */
  readonly address: ListenAddress;
  /** True while a gdb is attached. */
  readonly attached: boolean;
  /** Drops the client and stops listening. */
  close(): Promise<void>;
}

/** What a second client is told, once per packet, until it goes (gdb gives up after two). */
export const REFUSAL = "E.afterglow: another gdb is already attached to this session; only one can be at a time";
/** A refused client that does not go is dropped after this long. */
const REFUSAL_MS = 2000;

function refuse(socket: Socket): void {
  const decoder = new PacketDecoder();
  const timer = setTimeout(() => socket.destroy(), REFUSAL_MS);
  socket.on("close", () => clearTimeout(timer));
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk) => {
    for (const ev of decoder.feed(chunk)) if (ev.type === "packet") socket.write(`+${frame(REFUSAL)}`);
  });
}

export function listenGdb(target: DebugTarget, at: ListenAddress, options: ServerOptions = {}): Promise<GdbServer> {
  let client: { socket: Socket; conn: GdbConnection } | undefined;
  const server: Server = createServer((socket) => {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (client !== undefined) {
      options.log?.(`refused ${remote}: a debugger is already attached`);
      refuse(socket);
      return;
    }
    socket.setNoDelay(true);
    const conn = new GdbConnection(
      target,
      {
        send: (bytes) => {
          if (!socket.destroyed) socket.write(bytes);
        },
        close: () => socket.end(),
        kill: options.onKill,
      },
      options,
    );
    const mine = { socket, conn };
    client = mine;
    options.onClient?.("connect", remote);
    socket.on("data", (chunk) => conn.receive(chunk));
    socket.on("error", (e) => options.log?.(`${remote}: ${e.message}`));
    socket.on("close", () => {
      conn.dispose();
      if (client === mine) client = undefined;
      options.onClient?.("disconnect", remote);
    });
  });

  return listenOn(server, at).then(() => {
    const bound = server.address();
    const port = typeof bound === "object" && bound !== null ? bound.port : at.port;
    return {
      address: { host: at.host, port },
      get attached() {
        return client !== undefined;
      },
      close: () =>
        new Promise<void>((done) => {
          client?.socket.destroy();
          server.close(() => done());
        }),
    };
  });
}
