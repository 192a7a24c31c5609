// Command lines the CLI prints for people to paste (the gdb that attaches, triage's debug
// commands, the command a recording was made with): each word quoted for a POSIX shell when it
// needs it.

/** `s` as one word of a POSIX shell command line. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
