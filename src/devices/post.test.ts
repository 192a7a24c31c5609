import { describe, expect, it } from "vitest";
import { PostPort } from "./post.js";

describe("the POST diagnostic port", () => {
  it("hands every written code to the sink and reads back the last one", () => {
    const codes: number[] = [];
    const post = new PostPort((c) => codes.push(c));
    expect(post.read(0x80, 1)).toBe(0);
    post.write(0x80, 1, 0x12);
    post.write(0x80, 1, 0x34);
    expect(codes).toEqual([0x12, 0x34]);
    expect(post.read(0x80, 1)).toBe(0x34);
  });

  it("works without a sink, as Linux's I/O-delay writes need nothing", () => {
    const post = new PostPort();
    post.write(0x80, 1, 0x1ff);
    expect(post.read(0x80, 1)).toBe(0xff);
  });

  it("round-trips its state through save and restore", () => {
    const a = new PostPort();
    a.write(0x80, 1, 0xaa);
    const b = new PostPort();
    b.restore(JSON.parse(JSON.stringify(a.save())));
    expect(b.save()).toEqual(a.save());
    expect(b.read(0x80, 1)).toBe(0xaa);
  });
});
