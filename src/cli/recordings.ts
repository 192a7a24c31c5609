// Recordings as the commands find them: the file read, and the images it needs that it does not
// carry, from the options or beside the recording.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { RecordingError, readRecording, type ReadRecording } from "../replay/recording.js";
import { sha256 } from "../replay/session.js";
import { builtinGuestPath, readImage } from "./images.js";

const ROLE_OPTION: { [role: string]: "image" | "kernel" | "initrd" } = { "boot image": "image", kernel: "kernel", initrd: "initrd" };

/** Reads a recording file; a bad one is a RecordingError naming the file. */
export function loadRecording(file: string): ReadRecording {
  return readRecording(readImage(file), file);
}

/** The images a recording needs and does not carry: from options, else the recorded names beside the recording. */
export function recordingImages(rec: ReadRecording, file: string, opts: { image?: string; kernel?: string; initrd?: string }): { [role: string]: Uint8Array } {
  const out: { [role: string]: Uint8Array } = {};
  for (const ref of rec.header.images) {
    if (ref.data) continue;
    const given = opts[ROLE_OPTION[ref.role] ?? "image"];
    const beside = join(dirname(file), ref.name);
    const builtin = ref.role === "boot image" && sha256(readImage(builtinGuestPath())) === ref.sha256 ? builtinGuestPath() : undefined;
    const path = given ?? (existsSync(beside) ? beside : builtin);
    if (path === undefined) {
      throw new RecordingError(`${file} needs its ${ref.role} ${ref.name}: give it with --${ROLE_OPTION[ref.role] ?? "image"}, or replay a packed recording`);
    }
    out[ref.role] = readImage(path);
  }
  return out;
}
