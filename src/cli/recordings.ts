// Recordings as the commands find them: the file read, and the images it needs that it does not
// carry — given by an option, else where they were when recorded (the absolute path in the
// header, as rr remembers its trace's files), else by their recorded names beside the recording,
// else the built-in guest; each found one checked by its SHA-256.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { RecordingError, readRecording, type ReadRecording } from "../replay/recording.js";
import { sha256 } from "../replay/session.js";
import { UsageError } from "./errors.js";
import { builtinGuestPath, readImage } from "./images.js";

const ROLE_OPTION: { [role: string]: "image" | "kernel" | "initrd" } = { "boot image": "image", kernel: "kernel", initrd: "initrd" };

/** Reads a recording file; a bad one is a RecordingError naming the file. */
export function loadRecording(file: string): ReadRecording {
  return readRecording(readImage(file), file);
}

/** The images a recording needs and does not carry (see the top of this file). */
export function recordingImages(rec: ReadRecording, file: string, opts: { image?: string; kernel?: string; initrd?: string }): { [role: string]: Uint8Array } {
  refuseUnusedImages(rec, file, opts);
  const out: { [role: string]: Uint8Array } = {};
  for (const ref of rec.header.images) {
    if (ref.data) continue;
    const option = ROLE_OPTION[ref.role] ?? "image";
    const given = opts[option];
    // Given: used as it is (a wrong one is reported by its hash when the replay starts).
    if (given !== undefined) {
      out[ref.role] = readImage(given);
      continue;
    }
    const changed: string[] = [];
    const candidates = [ref.path, join(dirname(file), ref.name), ref.role === "boot image" ? builtinGuestPath() : undefined];
    for (const path of candidates) {
      if (path === undefined || !existsSync(path)) continue;
      const bytes = readImage(path);
      if (sha256(bytes) === ref.sha256) {
        out[ref.role] = bytes;
        break;
      }
      if (path !== candidates[2]) changed.push(path);
    }
    if (out[ref.role] === undefined) {
      const why = changed.length > 0 ? `: ${changed.join(" and ")} ${changed.length > 1 ? "have" : "has"} changed since it was recorded` : "";
      throw new RecordingError(
        `${file} needs its ${ref.role} ${ref.name} (sha256 ${ref.sha256.slice(0, 16)}…)${why}; give it with --${option}, or replay a packed recording`,
      );
    }
  }
  return out;
}

/**
 * An image option the replay would not use is a mistake the user should hear of, not one to
 * ignore: the recording has no image of that role (--kernel for a flat image's), or carries
 * its own, and the given file is another.
 */
function refuseUnusedImages(rec: ReadRecording, file: string, opts: { image?: string; kernel?: string; initrd?: string }): void {
  for (const [role, option] of Object.entries(ROLE_OPTION)) {
    const given = opts[option];
    if (given === undefined) continue;
    const ref = rec.header.images.find((i) => i.role === role);
    if (ref === undefined) {
      const has = rec.header.images.map((i) => `${i.role} ${i.name}`).join(" and ");
      throw new UsageError(`--${option} ${given}: ${file} has no ${role} to give (it was made with ${has})`);
    }
    if (ref.data !== undefined && sha256(readImage(given)) !== ref.sha256) {
      throw new UsageError(`--${option} ${given} is not the ${role} ${file} carries (${ref.name}, sha256 ${ref.sha256.slice(0, 16)}…): leave --${option} out`);
    }
  }
}
