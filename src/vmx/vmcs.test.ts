import { describe, expect, it } from "vitest";
import { FIELDS, Field } from "./fields.js";
import {
  Region, VMCS_REGION_SIZE, VMCS_REVISION_ID, Vmcs, VmInsnError, launchError, vmclear, vmclearRegion, vmclearError,
  vmptrldError, vmxPointerValid, type PhysWords,
} from "./vmcs.js";

/** Little-endian RAM of 32-bit words for the region tests. */
function ram(bytes: number): PhysWords & { i32: Int32Array } {
  const i32 = new Int32Array(bytes / 4);
  return { i32, read32: (a) => i32[a >>> 2], write32: (a, v) => void (i32[a >>> 2] = v) };
}

describe("the VMCS", () => {
  it("returns what VMWRITE stored, truncated to the field's width", () => {
    const v = new Vmcs();
    expect(v.vmwrite(Field.GUEST_CS_SELECTOR, 0x12340008)).toBe(0);
    expect(v.vmread(Field.GUEST_CS_SELECTOR)).toBe(0x0008);
    expect(v.vmwrite(Field.GUEST_CS_LIMIT, 0xffffffff)).toBe(0);
    expect(v.vmread(Field.GUEST_CS_LIMIT)).toBe(0xffffffff);
    expect(v.vmwrite(Field.GUEST_CR0, 0x80000031 | 0)).toBe(0);
    expect(v.vmread(Field.GUEST_CR0)).toBe(0x80000031);
  });

  it("writes the low half and clears the high half of a 64-bit field through the full access type", () => {
    const v = new Vmcs();
    v.write64(Field.TSC_OFFSET, 0x11111111, 0x22222222);
    expect(v.vmwrite(Field.TSC_OFFSET, 0x33333333)).toBe(0);
    expect(v.vmread(Field.TSC_OFFSET)).toBe(0x33333333);
    expect(v.vmread(Field.TSC_OFFSET | 1)).toBe(0);
    expect(v.read64(Field.TSC_OFFSET)).toBe(0x33333333n);
  });

  it("reaches only the high half of a 64-bit field through the high access type", () => {
    const v = new Vmcs();
    expect(v.vmwrite(Field.EPT_POINTER, 0x0010001e)).toBe(0);
    expect(v.vmwrite(Field.EPT_POINTER | 1, 0xabcd)).toBe(0);
    expect(v.vmread(Field.EPT_POINTER)).toBe(0x0010001e);
    expect(v.vmread(Field.EPT_POINTER | 1)).toBe(0xabcd);
    expect(v.read64(Field.EPT_POINTER)).toBe(0xabcd_0010001en);
  });

  it("fails VMREAD and VMWRITE of components it does not have with error 12", () => {
    const v = new Vmcs();
    expect(v.vmread(0x0000)).toBe(-1); // VPID
    expect(v.vmread(Field.GUEST_CR0 | 1)).toBe(-1); // high access to a natural-width field
    expect(v.vmwrite(0x482e, 1)).toBe(VmInsnError.UNSUPPORTED_COMPONENT);
    expect(v.vmwrite(0x10000 | Field.GUEST_RIP, 1)).toBe(VmInsnError.UNSUPPORTED_COMPONENT);
    expect(VmInsnError.UNSUPPORTED_COMPONENT).toBe(12);
  });

  it("refuses VMWRITE to exit-information fields with error 13, which the processor itself writes", () => {
    const v = new Vmcs();
    for (const f of [Field.VM_EXIT_REASON, Field.EXIT_QUALIFICATION, Field.GUEST_PHYSICAL_ADDRESS, Field.VM_INSTRUCTION_ERROR]) {
      expect(v.vmwrite(f, 1)).toBe(VmInsnError.VMWRITE_READ_ONLY);
    }
    expect(VmInsnError.VMWRITE_READ_ONLY).toBe(13);
    v.write(Field.VM_EXIT_REASON, 30);
    v.write(Field.EXIT_QUALIFICATION, 0x03f80000);
    expect(v.vmread(Field.VM_EXIT_REASON)).toBe(30);
    expect(v.vmread(Field.EXIT_QUALIFICATION)).toBe(0x03f80000);
  });

  it("keeps the processor's 16-bit writes to 16 bits and 64-bit halves apart", () => {
    const v = new Vmcs();
    v.write(Field.HOST_CS_SELECTOR, 0x10008);
    expect(v.read(Field.HOST_CS_SELECTOR)).toBe(8);
    v.write(Field.GUEST_PHYSICAL_ADDRESS | 1, 5);
    v.write(Field.GUEST_PHYSICAL_ADDRESS, 0x1000);
    expect(v.read64(Field.GUEST_PHYSICAL_ADDRESS)).toBe(0x5_00001000n);
    v.write64n(Field.TSC_OFFSET, -1n);
    expect(v.read(Field.TSC_OFFSET)).toBe(0xffffffff);
    expect(v.read(Field.TSC_OFFSET | 1)).toBe(0xffffffff);
  });

  it("saves and restores itself as plain data", () => {
    const v = new Vmcs();
    FIELDS.forEach(([enc], k) => v.write(enc, k * 0x01010101));
    v.launched = true;
    const copy = new Vmcs();
    copy.restore(JSON.parse(JSON.stringify(v.save())));
    expect(copy.dump()).toEqual(v.dump());
    expect(copy.launched).toBe(true);
    expect(copy.revision).toBe(VMCS_REVISION_ID);
    expect(() => copy.restore({ ...v.save(), fields: [1, 2] })).toThrow(/words/);
  });

  it("stores into its 4 KiB region with the revision identifier first, and loads back", () => {
    const mem = ram(0x3000);
    const v = new Vmcs();
    v.write(Field.GUEST_RIP, 0x1234);
    v.write64(Field.EPT_POINTER, 0x5000 | 0x1e, 0);
    v.launched = true;
    v.storeTo(mem, 0x1000);
    expect(mem.read32(0x1000 + Region.REVISION)).toBe(VMCS_REVISION_ID);
    expect(mem.read32(0x1000 + Region.LAUNCH_STATE)).toBe(1);
    expect(Region.FIELDS + 8 * FIELDS.length).toBeLessThanOrEqual(VMCS_REGION_SIZE);
    const w = new Vmcs();
    w.loadFrom(mem, 0x1000);
    expect(w.dump()).toEqual(v.dump());
    expect(w.launched).toBe(true);
    vmclearRegion(mem, 0x1000);
    w.loadFrom(mem, 0x1000);
    expect(w.launched).toBe(false);
  });
});

describe("the VMX instructions' VMCS checks", () => {
  it("takes only 4 KiB-aligned pointers below 4 GiB", () => {
    expect(vmxPointerValid(0x1000, 0)).toBe(true);
    expect(vmxPointerValid(0x1008, 0)).toBe(false);
    expect(vmxPointerValid(0x1000, 1)).toBe(false);
  });

  it("fails VMCLEAR of a bad address with 2 and of the VMXON region with 3", () => {
    expect(vmclearError(0x2004, 0, 0x1000)).toBe(2);
    expect(vmclearError(0x1000, 0, 0x1000)).toBe(3);
    expect(vmclearError(0x2000, 0, 0x1000)).toBe(0);
  });

  it("fails VMPTRLD with 9 for a bad address, 10 for the VMXON region and 11 for a foreign revision", () => {
    expect(vmptrldError(0x2001, 0, 0x1000, VMCS_REVISION_ID)).toBe(9);
    expect(vmptrldError(0x1000, 0, 0x1000, VMCS_REVISION_ID)).toBe(10);
    expect(vmptrldError(0x2000, 0, 0x1000, 0x12345)).toBe(11);
    expect(vmptrldError(0x2000, 0, 0x1000, (VMCS_REVISION_ID | 0x80000000) >>> 0)).toBe(11); // shadow VMCS
    expect(vmptrldError(0x2000, 0, 0x1000, VMCS_REVISION_ID)).toBe(0);
  });

  it("lets VMLAUNCH run a clear VMCS and VMRESUME a launched one, after the MOV-SS check", () => {
    const v = new Vmcs();
    expect(launchError(v, false, false)).toBe(0);
    expect(launchError(v, true, false)).toBe(VmInsnError.VMRESUME_NONLAUNCHED_VMCS);
    v.launched = true;
    expect(launchError(v, false, false)).toBe(VmInsnError.VMLAUNCH_NONCLEAR_VMCS);
    expect(launchError(v, true, false)).toBe(0);
    expect(launchError(v, true, true)).toBe(VmInsnError.ENTRY_BLOCKED_BY_MOV_SS);
    vmclear(v);
    expect(v.launched).toBe(false);
    expect([VmInsnError.VMLAUNCH_NONCLEAR_VMCS, VmInsnError.VMRESUME_NONLAUNCHED_VMCS, VmInsnError.ENTRY_BLOCKED_BY_MOV_SS]).toEqual([4, 5, 26]);
  });
});
