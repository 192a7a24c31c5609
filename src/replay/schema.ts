// Schemas for data that comes from outside (a recording's records): each field's type and range,
// checked once where the data enters, so nothing behind the boundary ever sees a null where a
// number belongs. A check returns undefined, or one line naming the field by its path and what it
// should have been ("header.machine.ramSize is null; it must be an integer from 1 to 3221225472").

export type Schema = (v: unknown, path: string) => string | undefined;

function shown(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "missing";
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "an object";
  return String(v);
}

const fail = (v: unknown, path: string, want: string): string => `${path} is ${shown(v)}; it must be ${want}`;

/** A safe integer in [min, max]. */
export function int(min = 0, max = Number.MAX_SAFE_INTEGER): Schema {
  return (v, path) => (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : fail(v, path, `an integer from ${min} to ${max}`));
}

/** A string, optionally matching `re` (described by `what`). */
export function str(re?: RegExp, what = "a string"): Schema {
  return (v, path) => (typeof v === "string" && (re === undefined || re.test(v)) ? undefined : fail(v, path, what));
}

export const bytes: Schema = (v, path) => (v instanceof Uint8Array ? undefined : fail(v, path, "bytes"));

/** One of the given strings. */
export function oneOf(...values: readonly string[]): Schema {
  return (v, path) => (typeof v === "string" && values.includes(v) ? undefined : fail(v, path, `one of ${values.join(", ")}`));
}

export function listOf(item: Schema, maxLength = 1 << 20): Schema {
  return (v, path) => {
    if (!Array.isArray(v) || v.length > maxLength) return fail(v, path, `a list of at most ${maxLength}`);
    for (let i = 0; i < v.length; i++) {
      const e = item(v[i], `${path}[${i}]`);
      if (e !== undefined) return e;
    }
    return undefined;
  };
}

/** An object with these fields (the `optional` ones may be absent); fields not named are allowed. */
export function object(fields: { [k: string]: Schema }, optional: { [k: string]: Schema } = {}): Schema {
  return (v, path) => {
    if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) return fail(v, path, "an object");
    const o = v as { [k: string]: unknown };
    for (const [k, s] of Object.entries(fields)) {
      const e = s(o[k], `${path}.${k}`);
      if (e !== undefined) return e;
    }
    for (const [k, s] of Object.entries(optional)) {
      if (o[k] === undefined) continue;
      const e = s(o[k], `${path}.${k}`);
      if (e !== undefined) return e;
    }
    return undefined;
  };
}

/** Objects told apart by the string in field `tag`, each with its own schema. */
export function variants(tag: string, cases: { [value: string]: Schema }): Schema {
  return (v, path) => {
    const t = typeof v === "object" && v !== null ? (v as { [k: string]: unknown })[tag] : undefined;
    const s = typeof t === "string" && Object.hasOwn(cases, t) ? cases[t] : undefined;
    if (s === undefined) return fail(t, `${path}.${tag}`, `one of ${Object.keys(cases).join(", ")}`);
    return s(v, path);
  };
}
