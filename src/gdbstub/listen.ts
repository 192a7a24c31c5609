// Opening a listening socket at an address the user gave (gdb's port, the inspector's): every way
// that can fail — a port taken, an address or a host name this machine does not have, a port it
// may not bind — is the user's to change, so each becomes a ListenError that says so in one line,
// naming the address as the user wrote it. Name resolution fails before the listen call, with no
// address or port on Node's error: that is why the address is named here, not from the error.

import { createServer, type Server } from "node:net";

/** Where to listen: a host and a port (0: any free one). */
export interface ListenAddress {
  host: string;
  port: number;
}

/** A listener could not open its address; the message is the whole line to show. */
export class ListenError extends Error {
  override name = "ListenError";
}

const WHY: Record<string, string> = {
  EADDRINUSE: "the address is in use (another afterglow or gdb server? choose another port, or 0 for any free one)",
  EADDRNOTAVAIL: "this machine has no such address",
  EACCES: "not allowed to listen there (ports below 1024 need privileges)",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name cannot be resolved now (no name server answered)",
};

/** `host:port` as a user types it (and gdb's target remote reads it): an IPv6 host in brackets. */
export function formatAddress(at: ListenAddress): string {
  return `${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}`;
}

/** The ListenError for `err`, which listening on `at` failed with. */
export function listenError(err: unknown, at: ListenAddress): ListenError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === undefined ? (err instanceof Error ? err.message : String(err)) : (WHY[code] ?? code);
  return new ListenError(`cannot listen on ${formatAddress(at)}: ${why}`);
}

/** Makes `server` listen at `at`; rejects with a ListenError. */
export function listenOn(server: Server, at: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(listenError(err, at));
    server.once("error", failed);
    server.listen(at.port, at.host, () => {
      server.off("error", failed);
      resolve();
    });
  });
}

/**
 * Whether `at` can be listened on now, by opening it and closing it again; rejects with a
 * ListenError. For a listener opened where this cannot be used (another process, another layer).
 */
export async function checkListenable(at: ListenAddress): Promise<void> {
  const server = createServer();
  await listenOn(server, at);
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
