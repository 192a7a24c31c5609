// The VT-x architecture as data and rules: what src/machine's CPU (VMX operation, non-root
// execution) and src/l4 (VMCS setup, exit delivery, EPT mappings) import. See ./README.md.

export * from "./fields.js";
export * from "./vmcs.js";
export * from "./controls.js";
export * from "./exits.js";
export * from "./nonroot.js";
export * from "./entry.js";
export * from "./ept.js";
