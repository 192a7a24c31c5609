; Conformance kernel: privilege transitions. IRET and far RET to outer rings with the nulling of
; data segments the new CPL may not use; INT n from ring 3 through interrupt and trap gates with
; the stack switch and the frame it builds; call gates (32- and 16-bit, parameter copying, to
; ring 0, 1 and to conforming code) and their #GP/#NP checks; SYSENTER/SYSEXIT; the I/O bitmap
; and IOPL; LAR, LSL, VERR, VERW and ARPL as seen from ring 3.
; Build: nasm -f bin -o privilege.bin privilege.asm

%include "lib.inc"

R1_STACK  equ 0x70000
R2_STACK  equ 0x68000
TSS_IO    equ 0x24000                 ; a second TSS, with an I/O bitmap
SYSENTER_STACK equ 0x87000

SEL_R1C   equ $ - gdt                 ; code, DPL 1
    DESC 0, 0xfffff, 0xba, 0xc
SEL_R1D   equ $ - gdt                 ; data, DPL 1
    DESC 0, 0xfffff, 0xb2, 0xc
SEL_R2C   equ $ - gdt                 ; code, DPL 2
    DESC 0, 0xfffff, 0xda, 0xc
SEL_R2D   equ $ - gdt                 ; data, DPL 2
    DESC 0, 0xfffff, 0xd2, 0xc
SEL_CONF  equ $ - gdt                 ; readable conforming code, DPL 0
    DESC 0, 0xfffff, 0x9e, 0xc
SEL_RX    equ $ - gdt                 ; readable code, DPL 0
    DESC 0, 0xfffff, 0x9a, 0xc
SEL_XO    equ $ - gdt                 ; execute-only code, DPL 0
    DESC 0, 0xfffff, 0x98, 0xc
SEL_RO    equ $ - gdt                 ; read-only data, DPL 0
    DESC 0, 0xfffff, 0x90, 0xc
SEL_CNP   equ $ - gdt                 ; code, not present
    DESC 0, 0xfffff, 0x1a, 0xc
SEL_U3NP  equ $ - gdt                 ; code, DPL 3, not present
    DESC 0, 0xfffff, 0x7a, 0xc
SEL_FRESH equ $ - gdt                 ; code, DPL 0, for the accessed bit
    DESC 0, 0xfffff, 0x9a, 0xc
SEL_FRESH3 equ ($ - gdt) | 3          ; code, DPL 3, for the accessed bit
    DESC 0, 0xfffff, 0xfa, 0xc
SEL_TSSIO equ $ - gdt                 ; TSS_IO, 32-bit, available; the bitmap covers ports 0-0x3ff
    DESC TSS_IO, 0xe8, 0x89, 0
SEL_CG    equ $ - gdt                 ; call gate, DPL 3, to ring 0 with two parameters
    GATE KCODE, ABS(gate_ring0), 0xec, 2
SEL_CG0   equ $ - gdt                 ; call gate, DPL 0
    GATE KCODE, ABS(gate_ring0), 0x8c, 2
SEL_CG2   equ $ - gdt                 ; call gate, DPL 2
    GATE KCODE, ABS(gate_ring0), 0xcc, 2
SEL_CGNP  equ $ - gdt                 ; call gate, DPL 3, not present
    GATE KCODE, ABS(gate_ring0), 0x6c, 2
SEL_CGCNP equ $ - gdt                 ; call gate, DPL 3, to a code segment that is not present
    GATE SEL_CNP, ABS(gate_ring0), 0xec, 0
SEL_CGDATA equ $ - gdt                ; call gate, DPL 3, naming a data segment
    GATE KDATA, ABS(gate_ring0), 0xec, 0
SEL_CGNULL equ $ - gdt                ; call gate, DPL 3, with a null selector
    GATE 0, ABS(gate_ring0), 0xec, 0
SEL_CGR1  equ $ - gdt                 ; call gate, DPL 3, to ring 1 with one parameter
    GATE SEL_R1C, ABS(gate_ring1), 0xec, 1
SEL_CGCONF equ $ - gdt                ; call gate, DPL 3, to conforming code
    GATE SEL_CONF, ABS(gate_conforming), 0xec, 0
SEL_CG16  equ $ - gdt                 ; 16-bit call gate, DPL 3, to ring 0 with two word parameters
    GATE KCODE, ABS(gate16_ring0), 0xe4, 2
SEL_CGK   equ $ - gdt                 ; call gate, DPL 0, to ring 0 code: for JMP at ring 0
    GATE KCODE, ABS(gate_jmp_target), 0x8c, 0
SEL_CGK3  equ $ - gdt                 ; call gate, DPL 3, to ring 0 code: JMP from ring 3 may not use it
    GATE KCODE, ABS(gate_jmp_target), 0xec, 0
gdt_end:

; R3ZF "name", selector, {instruction}...: at ring 3 with EBX = the selector and EAX = 0xdeadbeef,
; the instructions; then ZF and EAX as they left them.
%macro R3ZF 3-4
    CASE %1
    TO_RING3
    mov eax, 0xdeadbeef
    mov ebx, %2
    %3
    %4
    pushfd
    pop ecx
    int 0x30
    shr ecx, 6
    and ecx, 1
    PHEX8 "zf", ecx
    and eax, 0xfff0ffff               ; LAR leaves bits 19:16 undefined
    PHEX32 "eax", eax
    ENDCASE
%endmacro

main:
    PUTS "conformance: privilege", 10
    ; int 0x32 from any ring: print the interrupted context (see dump).
    mov ebx, 0x32
    mov eax, dump
    mov ecx, 0xee00
    call set_gate
    ; int 0x33: DPL 3 interrupt gate, int 0x34: DPL 3 trap gate, both to `frame`.
    mov ebx, 0x33
    mov eax, frame
    mov ecx, 0xee00
    call set_gate
    mov ebx, 0x34
    mov eax, frame
    mov ecx, 0xef00
    call set_gate
    ; int 0x35: DPL 3 gate to ring-3 code (no stack switch).
    SETGATE 0x35, UCODE, ring3_handler, 0xee00
    ; int 0x36: DPL 3 gate to conforming ring-0 code (no stack switch either).
    SETGATE 0x36, SEL_CONF, ring3_handler, 0xee00
    mov dword [TSS_BASE + 0x0c], R1_STACK
    mov dword [TSS_BASE + 0x10], SEL_R1D | 1
    mov dword [TSS_BASE + 0x14], R2_STACK
    mov dword [TSS_BASE + 0x18], SEL_R2D | 2
    call make_io_tss

    ; ---- IRET to ring 3 and what happens to the data segments
    CASE "iret-to-ring3-nulls-dpl0-data"
    mov ax, UDATA
    mov ds, ax
    mov ax, KDATA
    mov es, ax
    mov ax, SEL_CONF
    mov fs, ax
    mov ax, SEL_RX
    mov gs, ax
    push dword UDATA
    push dword STACK3
    push dword 0x202
    push dword UCODE
    push dword %$user
    iret
%$user:
    int 0x32
    ENDCASE
    CASE "iret-to-ring3-keeps-iopl-from-ring0"
    push dword UDATA
    push dword STACK3 - 0x10
    push dword 0x3202
    push dword UCODE
    push dword %$user
    iret
%$user:
    cli
    int 0x32
    ENDCASE
    CASE "ring3-popf-leaves-iopl-and-if"
    push dword UDATA
    push dword STACK3
    push dword 0x1202
    push dword UCODE
    push dword %$user
    iret
%$user:
    push dword 0x3000
    popfd
    int 0x32
    ENDCASE
    CASE "ring3-popf-changes-if-when-cpl-le-iopl"
    push dword UDATA
    push dword STACK3
    push dword 0x3202
    push dword UCODE
    push dword %$user
    iret
%$user:
    push dword 0x3000
    popfd
    int 0x32
    ENDCASE
    CASE "ring3-iret-leaves-iopl"
    TO_RING3
    push dword UDATA
    push dword STACK3 - 0x40
    push dword 0x3202
    push dword UCODE
    push dword %$user
    iret
%$user:
    int 0x32
    ENDCASE
    CASE "gp-ring3-iret-to-ring0"
    TO_RING3
    push dword 2
    push dword KCODE
    push dword %$user
    iret
%$user:
    int 0x30
    ENDCASE
    CASE "gp-iret-to-ring3-null-ss"
    push dword 0
    push dword STACK3
    push dword 2
    push dword UCODE
    push dword %$user
    iret
%$user:
    int 0x30
    ENDCASE
    CASE "gp-iret-to-ring3-ss-rpl0"
    push dword UDATA & ~3
    push dword STACK3
    push dword 2
    push dword UCODE
    push dword %$user
    iret
%$user:
    int 0x30
    ENDCASE
    CASE "gp-iret-to-ring3-ss-dpl0"
    push dword KDATA | 3
    push dword STACK3
    push dword 2
    push dword UCODE
    push dword %$user
    iret
%$user:
    int 0x30
    ENDCASE
    CASE "gp-iret-to-ring3-code-dpl0"
    push dword UDATA
    push dword STACK3
    push dword 2
    push dword SEL_RX | 3
    push dword %$user
    iret
%$user:
    int 0x30
    ENDCASE
    CASE "np-iret-to-ring3-code-absent"
    push dword UDATA
    push dword STACK3
    push dword 2
    push dword SEL_U3NP | 3
    push dword %$user
    iret
%$user:
    int 0x30
    ENDCASE
    CASE "iret-to-ring3-conforming-dpl0-code"
    push dword UDATA
    push dword STACK3
    push dword 2
    push dword SEL_CONF | 3
    push dword %$user
    iret
%$user:
    int 0x32
    ENDCASE
    CASE "iret-to-ring2"
    mov ax, SEL_R2D | 2
    mov fs, ax
    mov ax, SEL_R1D
    mov gs, ax
    push dword SEL_R2D | 2
    push dword R2_STACK - 0x20
    push dword 2
    push dword SEL_R2C | 2
    push dword %$user
    iret
%$user:
    int 0x32
    ENDCASE

    ; ---- far RET to an outer ring
    CASE "retf-to-ring3-nulls-segments"
    mov ax, KDATA
    mov ds, ax
    mov ax, UDATA
    mov es, ax
    mov ax, SEL_CONF
    mov fs, ax
    mov ax, SEL_RX
    mov gs, ax
    push dword UDATA
    push dword STACK3 - 8
    push dword UCODE
    push dword %$user
    retf
%$user:
    int 0x32
    ENDCASE
    CASE "retf-imm-to-ring3-adjusts-both-stacks"
    push dword UDATA
    push dword STACK3 - 0x20
    push dword 0x11111111
    push dword 0x22222222
    push dword UCODE
    push dword %$user
    mov eax, esp
    retf 8
%$user:
    int 0x32
    ENDCASE
    CASE "gp-retf-to-inner-ring"
    TO_RING3
    push dword KCODE
    push dword %$user
    retf
%$user:
    int 0x30
    ENDCASE
    CASE "gp-retf-to-ring3-ss-rpl-mismatch"
    push dword UDATA & ~3
    push dword STACK3
    push dword UCODE
    push dword %$user
    retf
%$user:
    int 0x30
    ENDCASE
    CASE "gp-retf-to-ring3-ss-dpl0"
    push dword KDATA | 3
    push dword STACK3
    push dword UCODE
    push dword %$user
    retf
%$user:
    int 0x30
    ENDCASE
    CASE "gp-retf-to-ring3-ss-code"
    push dword UCODE
    push dword STACK3
    push dword UCODE
    push dword %$user
    retf
%$user:
    int 0x30
    ENDCASE
    CASE "np-retf-to-ring3-code-absent"
    push dword UDATA
    push dword STACK3
    push dword SEL_U3NP | 3
    push dword %$user
    retf
%$user:
    int 0x30
    ENDCASE
    CASE "retf-to-ring1"
    push dword SEL_R1D | 1
    push dword R1_STACK - 0x10
    push dword SEL_R1C | 1
    push dword %$user
    retf
%$user:
    int 0x32
    ENDCASE

    ; ---- INT n from ring 3: gates, stack switch, frame
    CASE "int-ring3-interrupt-gate-frame"
    push dword UDATA
    push dword STACK3 - 4
    push dword 0x4202                  ; NT and IF: the gate clears both
    push dword UCODE
    push dword %$user
    iret
%$user:
    mov eax, 0x1234
    int 0x33
    ENDCASE
    CASE "int-ring3-trap-gate-keeps-if"
    push dword UDATA
    push dword STACK3 - 4
    push dword 0x0202
    push dword UCODE
    push dword %$user
    iret
%$user:
    int 0x34
    ENDCASE
    CASE "int-ring0-same-stack-frame"
    sti
    int 0x34
    ENDCASE
    CASE "int-ring3-to-ring3-handler"
    TO_RING3
    mov esp, STACK3 - 0x100
    int 0x35
    ENDCASE
    CASE "int-ring3-to-conforming-handler"
    TO_RING3
    mov esp, STACK3 - 0x100
    int 0x36
    ENDCASE
    CASE "gp-ring3-frame-with-error-code"
    mov dword [exc_hook], frame_hook
    TO_RING3
    mov ax, KDATA
    mov es, ax
    ENDCASE
    CASE "ud-ring3-frame-without-error-code"
    mov dword [exc_hook], frame_hook
    TO_RING3
    ud2
    ENDCASE

    ; ---- call gates
    CASE "callgate-ring3-to-ring0-two-params"
    TO_RING3
    mov ax, UDATA
    mov fs, ax
    push dword 0x11111111
    push dword 0x22222222
    call SEL_CG | 3:0
    int 0x32
    ENDCASE
    CASE "callgate-ring0-to-ring0-no-stack-switch"
    push dword 0x33333333
    push dword 0x44444444
    call SEL_CG:0
    mov eax, esp
    PHEX32 "back-esp", eax
    ENDCASE
    CASE "gp-callgate-dpl0-from-ring3"
    TO_RING3
    call SEL_CG0 | 3:0
    int 0x30
    ENDCASE
    CASE "gp-callgate-rpl-above-dpl"
    call SEL_CG2 | 3:0
    ENDCASE
    CASE "callgate-rpl-equal-dpl"
    push dword 0x33333333
    push dword 0x44444444
    call SEL_CG2 | 2:0
    ENDCASE
    CASE "np-callgate-not-present"
    TO_RING3
    call SEL_CGNP | 3:0
    int 0x30
    ENDCASE
    CASE "np-callgate-code-not-present"
    TO_RING3
    call SEL_CGCNP | 3:0
    int 0x30
    ENDCASE
    CASE "gp-callgate-to-data"
    TO_RING3
    call SEL_CGDATA | 3:0
    int 0x30
    ENDCASE
    CASE "gp-callgate-null-code-selector"
    TO_RING3
    call SEL_CGNULL | 3:0
    int 0x30
    ENDCASE
    CASE "callgate-ring3-to-ring1-one-param"
    TO_RING3
    push dword 0x55555555
    call SEL_CGR1 | 3:0
    int 0x30
    ENDCASE
    CASE "callgate-ring3-to-conforming-keeps-cpl"
    TO_RING3
    call SEL_CGCONF | 3:0
    int 0x30
    ENDCASE
    CASE "callgate16-ring3-to-ring0-word-params"
    TO_RING3
    mov esp, 0xf000
    push word 0x6666
    push word 0x7777
    call SEL_CG16 | 3:0
    int 0x32
    ENDCASE
    CASE "jmp-callgate-same-ring"
    jmp SEL_CGK:0
    ENDCASE
    CASE "gp-jmp-callgate-to-inner-ring"
    TO_RING3
    jmp SEL_CGK3 | 3:0
    int 0x30
    ENDCASE
    CASE "jmp-far-ring3-to-conforming"
    TO_RING3
    jmp SEL_CONF | 3:%$conf
%$conf:
    mov eax, cs
    int 0x30
    PHEX16 "cs", eax
    ENDCASE
    CASE "call-far-ring3-to-conforming-rpl0"
    TO_RING3
    call SEL_CONF:%$conf
%$conf:
    mov eax, cs
    int 0x30
    PHEX16 "cs", eax
    ENDCASE
    CASE "gp-call-far-ring3-to-nonconforming-dpl0"
    TO_RING3
    call SEL_RX | 3:0
    int 0x30
    ENDCASE

    ; ---- SYSENTER / SYSEXIT
    call sysenter_msrs
    CASE "sysenter-from-ring3-sysexit-back"
    push dword UDATA
    push dword STACK3
    push dword 0x202
    push dword UCODE
    push dword %$user
    iret
%$user:
    mov ecx, STACK3 - 0x30
    mov edx, %$back
    sysenter
%$back:
    int 0x32
    ENDCASE
    CASE "sysenter-from-ring0"
    mov ecx, STACK3 - 0x30
    mov edx, %$back
    sysenter
%$back:
    int 0x32
    ENDCASE
    CASE "sysexit-with-rpl-bits-in-sysenter-cs"
    mov ecx, 0x174
    mov eax, KCODE | 1
    xor edx, edx
    wrmsr
    mov ecx, STACK3 - 0x30
    mov edx, %$back
    sysexit
%$back:
    int 0x32
    ENDCASE
    call sysenter_msrs
    CASE "gp-sysenter-with-null-cs"
    mov ecx, 0x174
    xor eax, eax
    xor edx, edx
    wrmsr
    TO_RING3
    sysenter
    int 0x30
    ENDCASE
    CASE "gp-sysexit-with-null-cs"
    mov ecx, STACK3
    mov edx, %$back
    sysexit
%$back:
    int 0x30
    ENDCASE
    call sysenter_msrs

    ; ---- the I/O bitmap and IOPL
    CASE "io-bitmap-allows-com1-from-ring3"
    mov ax, SEL_TSSIO
    call use_tss
    TO_RING3
    mov dx, COM1 + 5
%$wait:
    in al, dx
    test al, 0x20
    jz %$wait
    mov dx, COM1
    mov al, '!'
    out dx, al
    int 0x30
    ENDCASE
    CASE "gp-io-bitmap-denies-port"
    mov ax, SEL_TSSIO
    call use_tss
    TO_RING3
    in al, 0x61
    int 0x30
    ENDCASE
    CASE "gp-io-bitmap-word-straddles-denied"
    mov ax, SEL_TSSIO
    call use_tss
    TO_RING3
    mov dx, COM1 + 5
    in ax, dx
    int 0x30
    ENDCASE
    CASE "gp-io-bitmap-port-beyond-limit"
    mov ax, SEL_TSSIO
    call use_tss
    TO_RING3
    mov dx, 0x400
    in al, dx
    int 0x30
    ENDCASE
    CASE "gp-io-no-bitmap"
    mov ax, TSS_SEL
    call use_tss
    TO_RING3
    mov dx, COM1 + 5
    in al, dx
    int 0x30
    ENDCASE
    CASE "io-iopl3-ignores-bitmap"
    mov ax, SEL_TSSIO
    call use_tss
    push dword UDATA
    push dword STACK3
    push dword 0x3002
    push dword UCODE
    push dword %$user
    iret
%$user:
    in al, 0x61
    int 0x30
    ENDCASE
    mov ax, TSS_SEL
    call use_tss

    ; ---- LAR, LSL, VERR, VERW, ARPL from ring 3
    R3ZF "lar-ring3-user-code", UCODE, {lar eax, ebx}
    R3ZF "lar-ring3-kernel-data", KDATA | 3, {lar eax, ebx}
    R3ZF "lar-ring3-conforming-kernel-code", SEL_CONF | 3, {lar eax, ebx}
    R3ZF "lar-ring3-call-gate", SEL_CG | 3, {lar eax, ebx}
    R3ZF "lar-ring3-tss-dpl0", TSS_SEL | 3, {lar eax, ebx}
    R3ZF "lar-ring3-null", 0, {lar eax, ebx}
    R3ZF "lar-ring3-beyond-gdt", (gdt_end - gdt) | 3, {lar eax, ebx}
    R3ZF "lar-ring3-memory-operand", 0, {lar eax, [cs_sel]}
    R3ZF "lsl-ring3-user-data", UDATA, {lsl eax, ebx}
    R3ZF "lsl-ring3-call-gate", SEL_CG | 3, {lsl eax, ebx}
    R3ZF "verr-ring3-user-code", UCODE, {verr bx}
    R3ZF "verr-ring3-execute-only", SEL_XO | 3, {verr bx}
    R3ZF "verr-ring3-conforming", SEL_CONF | 3, {verr bx}
    R3ZF "verw-ring3-user-data", UDATA, {verw bx}
    R3ZF "verw-ring3-kernel-data", KDATA | 3, {verw bx}
    R3ZF "verw-ring3-code", UCODE, {verw bx}
    R3ZF "verw-ring3-read-only", SEL_RO | 3, {verw bx}
    R3ZF "arpl-raises-rpl", UDATA, {mov eax, KDATA}, {arpl ax, bx}
    R3ZF "arpl-keeps-higher-rpl", KDATA, {mov eax, UDATA}, {arpl ax, bx}
    CASE "far-transfers-set-code-accessed-bit"
    and byte [gdt + SEL_FRESH + 5], ~1
    and byte [gdt + (SEL_FRESH3 & ~3) + 5], ~1
    jmp SEL_FRESH:%$there
%$there:
    jmp KCODE:%$back
%$back:
    push dword UDATA
    push dword STACK3
    push dword 2
    push dword SEL_FRESH3
    push dword %$user
    iret
%$user:
    int 0x30
    movzx eax, byte [gdt + SEL_FRESH + 5]
    PHEX8 "jmp", eax
    movzx eax, byte [gdt + (SEL_FRESH3 & ~3) + 5]
    PHEX8 "iret", eax
    ENDCASE
    CASE "lsl-ring0-tss"
    mov ebx, TSS_SEL
    lsl eax, ebx
    PHEX32 "limit", eax
    mov ebx, SEL_TSSIO
    lsl eax, ebx
    PHEX32 "limit", eax
    ENDCASE
    CASE "lar-ring0-busy-tss"
    mov ebx, TSS_SEL
    lar eax, ebx
    PHEX32 "ar", eax
    ENDCASE

    jmp finish

; ---------------------------------------------------------------------------------------------

; int 0x32: the interrupted context (its data segments are still loaded), then on after the case.
dump:
    PSEG "ds", ds
    PSEG "es", es
    PSEG "fs", fs
    PSEG "gs", gs
    PHEX16 "cs", [esp + 4]
    PHEX32 "eflags", [esp + 8]
    test byte [esp + 4], 3
    jz .same_ring
    PHEX32 "esp", [esp + 12]
    PHEX16 "ss", [esp + 16]
.same_ring:
    PHEX32 "eax", eax
    jmp recover

; int 0x33 / 0x34: the frame as the handler finds it, and its own EFLAGS, then on.
frame:
    pushfd
    pop eax
    PHEX32 "eflags0", eax
    mov eax, esp
    PHEX32 "esp0", eax
    PSEG "cs0", cs
    PSEG "ss0", ss
    PHEX16 "cs", [esp + 4]
    PHEX32 "eflags", [esp + 8]
    test byte [esp + 4], 3
    jz .same_ring
    PHEX32 "esp", [esp + 12]
    PHEX16 "ss", [esp + 16]
.same_ring:
    jmp recover

; An exception hook: the stack pointer at the handler and the saved outer stack.
frame_hook:
    lea ebx, [esp + FRAME + 8]        ; the saved EIP
    mov eax, ebx
    cmp dword [esp + FRAME + 4], -1
    je .no_code
    sub eax, 4                        ; the CPU pushed the error code
.no_code:
    PHEX32 "handler-esp", eax
    PHEX32 "esp", [ebx + 12]
    PHEX16 "ss", [ebx + 16]
    jmp recover

; int 0x35 / 0x36 land here, at ring 3 (no stack switch): report through int 0x30.
ring3_handler:
    mov eax, esp
    mov ebx, cs
    mov ecx, [esp + 4]
    mov edx, [esp + 8]
    int 0x30
    PHEX32 "esp", eax
    PHEX16 "cs", ebx
    PHEX16 "ret-cs", ecx
    PHEX32 "eflags", edx
    jmp recover

; The ring-0 target of the 32-bit call gates: the stack it finds, then RETF 8.
gate_ring0:
    mov eax, esp
    PHEX32 "esp0", eax
    PSEG "cs0", cs
    PSEG "ss0", ss
    PHEX16 "cs", [esp + 4]
    PHEX32 "p1", [esp + 8]
    PHEX32 "p2", [esp + 12]
    test byte [esp + 4], 3
    jz .same_ring
    PHEX32 "esp", [esp + 16]
    PHEX16 "ss", [esp + 20]
    ; The return to ring 3 nulls ES (kernel data) and keeps FS (user data).
    mov ax, KDATA
    mov es, ax
.same_ring:
    retf 8

; The ring-1 target of SEL_CGR1: it cannot print at ring 1, so it reports through int 0x30.
gate_ring1:
    mov eax, cs
    mov ebx, ss
    mov ecx, esp
    mov edx, [esp + 8]
    mov esi, [esp + 12]
    mov edi, [esp + 16]
    int 0x30
    PHEX16 "cs1", eax
    PHEX16 "ss1", ebx
    PHEX32 "esp1", ecx
    PHEX32 "p1", edx
    PHEX32 "esp", esi
    PHEX16 "ss", edi
    jmp recover

; The target of SEL_CGCONF: conforming code runs at the caller's CPL (3).
gate_conforming:
    mov eax, cs
    mov ebx, ss
    mov ecx, esp
    int 0x30
    PHEX16 "cs", eax
    PHEX16 "ss", ebx
    PHEX32 "esp", ecx
    jmp recover

; The ring-0 target of the 16-bit call gate: word frame; back with a 16-bit RETF 4.
gate16_ring0:
    mov eax, esp
    PHEX32 "esp0", eax
    PHEX16 "ip", [esp]
    PHEX16 "cs", [esp + 2]
    PHEX16 "p1", [esp + 4]
    PHEX16 "p2", [esp + 6]
    PHEX16 "sp", [esp + 8]
    PHEX16 "ss", [esp + 10]
    o16 retf 4

gate_jmp_target:
    mov eax, esp
    PHEX32 "esp", eax
    PSEG "cs", cs
    jmp recover

; SYSENTER lands here (ring 0): what it loaded, then SYSEXIT to EDX with ESP = ECX.
sysenter_target:
    PSEG "cs0", cs
    PSEG "ss0", ss
    mov eax, esp
    PHEX32 "esp0", eax
    pushfd
    pop eax
    PHEX32 "eflags0", eax
    sysexit

sysenter_msrs:
    mov ecx, 0x174
    mov eax, KCODE
    xor edx, edx
    wrmsr
    mov ecx, 0x175
    mov eax, SYSENTER_STACK
    wrmsr
    mov ecx, 0x176
    mov eax, sysenter_target
    wrmsr
    ret

; TSS_IO: the kernel's ring-0 stack; its bitmap allows only COM1's ports 0x3f8-0x3fd.
make_io_tss:
    mov edi, TSS_IO
    xor eax, eax
    mov ecx, 0xe9
    rep stosb
    mov dword [TSS_IO + 4], ESP0
    mov dword [TSS_IO + 8], KDATA
    mov word [TSS_IO + 0x66], 0x68
    mov edi, TSS_IO + 0x68
    mov al, 0xff
    mov ecx, 0x81
    rep stosb
    mov byte [TSS_IO + 0x68 + (COM1 >> 3)], 0xc0
    ret

; use_tss: makes AX the task register, both TSS descriptors marked available first.
use_tss:
    mov byte [gdt + TSS_SEL + 5], 0x89
    mov byte [gdt + SEL_TSSIO + 5], 0x89
    ltr ax
    ret

cs_sel: dd UCODE
