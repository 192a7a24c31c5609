; Conformance kernel: exceptions and their error codes. Divide errors, invalid opcodes, BOUND,
; breakpoints and overflow; #GP from selectors, segment types, privilege, limits, the IDT and
; privileged instructions at ring 3; #NP, #SS and #TS (the latter through a ring-1 handler whose
; stack in the TSS is bad); double faults and the benign/contributory rules. #PF is in paging.asm.
; Build: nasm -f bin -o exceptions.bin exceptions.asm

%include "lib.inc"

LDT_BASE  equ 0x22000
R1_STACK  equ 0x70000
PSE_PD    equ 0x23000

SEL_XO    equ $ - gdt                 ; execute-only code, DPL 0
    DESC 0, 0xfffff, 0x98, 0xc
SEL_RX    equ $ - gdt                 ; readable code, DPL 0
    DESC 0, 0xfffff, 0x9a, 0xc
SEL_RO    equ $ - gdt                 ; read-only data, DPL 0
    DESC 0, 0xfffff, 0x90, 0xc
SEL_NP    equ $ - gdt                 ; writable data, not present
    DESC 0, 0xfffff, 0x12, 0xc
SEL_LIM   equ $ - gdt                 ; data at 0x50000, limit 0xfff
    DESC 0x50000, 0xfff, 0x92, 0x4
SEL_ED    equ $ - gdt                 ; expand-down data, B=1, offsets 0xfffff000 and up
    DESC 0x51000, 0xffffe, 0x96, 0xc
SEL_STK   equ $ - gdt                 ; stack at 0x70000, limit 0xfff
    DESC 0x70000, 0xfff, 0x92, 0x4
SEL_CNP   equ $ - gdt                 ; code, not present
    DESC 0, 0xfffff, 0x1a, 0xc
SEL_C64K  equ $ - gdt                 ; code with a 64 KiB limit
    DESC 0, 0xffff, 0x9a, 0x4
SEL_R1C   equ $ - gdt                 ; code, DPL 1
    DESC 0, 0xfffff, 0xba, 0xc
SEL_R1D   equ $ - gdt                 ; data, DPL 1
    DESC 0, 0xfffff, 0xb2, 0xc
SEL_R1RO  equ $ - gdt                 ; read-only data, DPL 1
    DESC 0, 0xfffff, 0xb0, 0xc
SEL_R2D   equ $ - gdt                 ; data, DPL 2
    DESC 0, 0xfffff, 0xd2, 0xc
SEL_R1NP  equ $ - gdt                 ; data, DPL 1, not present
    DESC 0, 0xfffff, 0x32, 0xc
SEL_R1TINY equ $ - gdt                ; data, DPL 1, at 0x70000 with limit 0x13
    DESC 0x70000, 0x13, 0xb2, 0x4
SEL_U3STK equ $ - gdt                 ; stack, DPL 3, at 0x70000 with limit 0xfff
    DESC 0x70000, 0xfff, 0xf2, 0x4
SEL_CONF  equ $ - gdt                 ; readable conforming code, DPL 0
    DESC 0, 0xfffff, 0x9e, 0xc
SEL_LDT   equ $ - gdt                 ; an LDT with a data segment (index 1) and an absent one (2)
    DESC LDT_BASE, 0x17, 0x82, 0
SEL_LDTNP equ $ - gdt                 ; the same LDT, descriptor not present
    DESC LDT_BASE, 0x17, 0x02, 0
gdt_end:

; R3 "name", {instruction}: the instruction at ring 3, then back to ring 0.
%macro R3 2
    CASE %1
    TO_RING3
    %2
    int 0x30
    ENDCASE
%endmacro

; R0 "name", {instruction}: the instruction at ring 0.
%macro R0 2
    CASE %1
    %2
    ENDCASE
%endmacro

main:
    PUTS "conformance: exceptions", 10
    ; The LDT: null, a flat data segment (selector 0x0c), an absent one (0x14).
    mov dword [LDT_BASE], 0
    mov dword [LDT_BASE + 4], 0
    mov dword [LDT_BASE + 8], 0x0000ffff
    mov dword [LDT_BASE + 12], 0x00cf9200
    mov dword [LDT_BASE + 16], 0x0000ffff
    mov dword [LDT_BASE + 20], 0x00cf1200
    call gates_for_tests

    ; ---- #DE
    CASE "de-div32-zero"
    mov eax, 1
    xor edx, edx
    xor ecx, ecx
    div ecx
    ENDCASE
    CASE "de-div32-overflow"
    mov edx, 2
    xor eax, eax
    mov ecx, 2
    div ecx
    ENDCASE
    CASE "de-div32-largest"
    mov edx, 1
    mov eax, 0xffffffff
    mov ecx, 2
    div ecx
    PHEX32 "eax", eax
    PHEX32 "edx", edx
    ENDCASE
    CASE "de-idiv32-min-by-minus1"
    mov eax, 0x80000000
    cdq
    mov ecx, -1
    idiv ecx
    ENDCASE
    CASE "de-idiv32-negative-ok"
    mov eax, -7
    cdq
    mov ecx, 2
    idiv ecx
    PHEX32 "eax", eax
    PHEX32 "edx", edx
    ENDCASE
    CASE "de-div8-overflow"
    mov ax, 0x100
    mov bl, 1
    div bl
    ENDCASE
    CASE "de-idiv8-minus128-by-minus1"
    mov ax, -128
    mov bl, -1
    idiv bl
    ENDCASE
    CASE "de-idiv8-ok"
    mov ax, -128
    mov bl, 1
    idiv bl
    PHEX16 "ax", eax
    ENDCASE
    CASE "de-idiv16-min"
    mov ax, 0x8000
    cwd
    mov bx, -1
    idiv bx
    ENDCASE
    CASE "de-aam-zero"
    mov ax, 0x1234
    aam 0
    ENDCASE
    CASE "de-aam-16"
    mov ax, 0x00ff
    aam 16
    PHEX16 "ax", eax
    ENDCASE
    CASE "de-div-ring3"
    TO_RING3
    xor ecx, ecx
    div ecx
    int 0x30
    ENDCASE

    ; ---- #UD
    R0 "ud-ud2", {ud2}
    R0 "ud-ud0", {db 0x0f, 0xff, 0xc0}
    R0 "ud-ud1", {db 0x0f, 0xb9, 0xc0}
    R0 "ud-lock-nop", {db 0xf0, 0x90}
    R0 "ud-lock-register-add", {db 0xf0, 0x01, 0xd8}
    R0 "ud-lock-mov", {db 0xf0, 0x89, 0x05, 0x00, 0x00, 0x03, 0x00}
    CASE "ud-lock-memory-add-ok"
    mov dword [0x30000], 5
    lock add dword [0x30000], 3
    PHEX32 "m", [0x30000]
    ENDCASE
    R0 "ud-mov-cs", {db 0x8e, 0xc8}
    R0 "ud-mov-sreg7", {db 0x8e, 0xf8}
    R0 "ud-lea-register", {db 0x8d, 0xc0}
    R0 "ud-les-register", {db 0xc4, 0xc0}
    R0 "ud-lds-register", {db 0xc5, 0xc0}
    R0 "ud-bound-register", {db 0x62, 0xc0}
    R0 "ud-cmpxchg8b-register", {db 0x0f, 0xc7, 0xc8}
    R0 "ud-jmp-far-register", {db 0xff, 0xe8}
    R0 "ud-call-far-register", {db 0xff, 0xd8}
    R0 "ud-ff-7", {db 0xff, 0xf8}
    R0 "ud-fe-2", {db 0xfe, 0xd0}
    R0 "ud-mov-cr1", {db 0x0f, 0x22, 0xc8}
    R0 "ud-mov-cr5", {db 0x0f, 0x20, 0xe8}
    R0 "ud-syscall", {db 0x0f, 0x05}
    R0 "ud-sysret", {db 0x0f, 0x07}
    R0 "ud-lgdt-register", {db 0x0f, 0x01, 0xd0 | 0x08}
    R0 "ud-invlpg-register", {db 0x0f, 0x01, 0xf8}
    R0 "ud-0f-0b-prefixed", {db 0x66, 0x0f, 0x0b}
    CASE "ud-op82-is-add"
    mov al, 3
    db 0x82, 0xc0, 0x05
    PHEX8 "al", eax
    ENDCASE
    CASE "gp-insn-15-bytes-ok"
    mov eax, 0x11
    times 14 db 0x66
    nop
    PHEX32 "eax", eax
    ENDCASE
    CASE "gp-insn-16-bytes"
    times 15 db 0x66
    nop
    ENDCASE
    CASE "gp-insn-16-bytes-mov"
    mov eax, 0x11
    times 10 db 0x3e
    mov dword [0x30000], 0x12345678
    ENDCASE

    ; ---- #BR
    CASE "br-bound32-below"
    mov dword [0x30000], 10
    mov dword [0x30004], 20
    mov eax, 9
    bound eax, [0x30000]
    ENDCASE
    CASE "br-bound32-lower-edge"
    mov eax, 10
    bound eax, [0x30000]
    ENDCASE
    CASE "br-bound32-upper-edge"
    mov eax, 20
    bound eax, [0x30000]
    ENDCASE
    CASE "br-bound32-above"
    mov eax, 21
    bound eax, [0x30000]
    ENDCASE
    CASE "br-bound32-signed"
    mov dword [0x30000], -5
    mov dword [0x30004], 5
    mov eax, -6
    bound eax, [0x30000]
    ENDCASE
    CASE "br-bound16-above"
    mov word [0x30000], 0x10
    mov word [0x30002], 0x20
    mov eax, 0xffff0021
    bound ax, [0x30000]
    ENDCASE
    CASE "br-bound16-ok"
    mov eax, 0xffff0015
    bound ax, [0x30000]
    ENDCASE

    ; ---- #BP, #OF, #DB from instructions
    R0 "bp-int3", {int3}
    R0 "bp-int-3", {int 3}
    CASE "of-into-set"
    mov al, 0x7f
    add al, 1
    into
    ENDCASE
    CASE "of-into-clear"
    mov al, 1
    add al, 1
    into
    ENDCASE
    R0 "db-icebp", {db 0xf1}
    R3 "gp-ring3-int3-dpl0", {int3}
    R3 "gp-ring3-int-3-dpl0", {int 3}
    CASE "gp-ring3-into-dpl0"
    TO_RING3
    mov al, 0x7f
    add al, 1
    into
    int 0x30
    ENDCASE
    R3 "db-ring3-icebp-ignores-dpl", {db 0xf1}
    R3 "gp-ring3-int1-dpl0", {int 1}
    CASE "db-single-step"
    pushfd
    or dword [esp], 0x100
    popfd
    nop
    nop
    ENDCASE

    ; ---- #GP, #NP, #SS from segment loads
    CASE "gp-ds-beyond-gdt-load"
    mov ax, gdt_end - gdt
    mov ds, ax
    ENDCASE
    CASE "gp-ds-beyond-gdt-rpl3"
    mov ax, (gdt_end - gdt + 8) | 3
    mov ds, ax
    ENDCASE
    CASE "gp-ds-tss"
    mov ax, TSS_SEL
    mov ds, ax
    ENDCASE
    CASE "gp-ds-ldt-descriptor"
    mov ax, SEL_LDT
    mov es, ax
    ENDCASE
    CASE "gp-ds-execute-only"
    mov ax, SEL_XO
    mov ds, ax
    ENDCASE
    CASE "ds-readable-code"
    mov ax, SEL_RX
    mov fs, ax
    mov eax, [fs:0x7c00]
    PHEX32 "m", eax
    ENDCASE
    CASE "gp-ds-rpl3-dpl0"
    mov ax, KDATA | 3
    mov ds, ax
    ENDCASE
    CASE "ds-rpl0-dpl3"
    mov ax, UDATA & ~3
    mov gs, ax
    PSEG "gs", gs
    ENDCASE
    CASE "gp-ds-no-ldt"
    mov ax, 0x0f
    mov ds, ax
    ENDCASE
    CASE "ds-ldt"
    mov ax, SEL_LDT
    lldt ax
    mov ax, 0x0c
    mov ds, ax
    PSEG "ds", ds
    ENDCASE
    CASE "np-ds-ldt-absent"
    mov ax, SEL_LDT
    lldt ax
    mov ax, 0x14
    mov ds, ax
    ENDCASE
    CASE "gp-ds-beyond-ldt"
    mov ax, SEL_LDT
    lldt ax
    mov ax, 0x1c
    mov ds, ax
    ENDCASE
    CASE "np-lldt-absent"
    mov ax, SEL_LDTNP
    lldt ax
    ENDCASE
    CASE "gp-lldt-data"
    mov ax, KDATA
    lldt ax
    ENDCASE
    CASE "gp-lldt-in-ldt"
    mov ax, 0x0c
    lldt ax
    ENDCASE
    call clear_ldt
    CASE "np-ds"
    mov ax, SEL_NP
    mov ds, ax
    ENDCASE
    CASE "np-ds-checks-type-first"
    mov ax, SEL_CNP
    mov ds, ax
    ENDCASE
    CASE "gp-ss-null"
    xor eax, eax
    mov ss, ax
    ENDCASE
    CASE "gp-ss-read-only"
    mov ax, SEL_RO
    mov ss, ax
    ENDCASE
    CASE "gp-ss-code"
    mov ax, SEL_RX
    mov ss, ax
    ENDCASE
    CASE "gp-ss-rpl1"
    mov ax, KDATA | 1
    mov ss, ax
    ENDCASE
    CASE "gp-ss-dpl1"
    mov ax, SEL_R1D
    mov ss, ax
    ENDCASE
    CASE "ss-ss-not-present"
    mov ax, SEL_NP
    mov ss, ax
    ENDCASE
    CASE "gp-pop-ss-null"
    push dword 0
    pop ss
    ENDCASE
    CASE "gp-lss-read-only"
    mov dword [0x30000], 0x1000
    mov word [0x30004], SEL_RO
    lss esp, [0x30000]
    ENDCASE
    CASE "gp-ring3-ds-dpl0"
    TO_RING3
    mov ax, KDATA
    mov ds, ax
    int 0x30
    ENDCASE
    CASE "gp-ring3-ss-dpl0"
    TO_RING3
    mov ax, KDATA | 3
    mov ss, ax
    int 0x30
    ENDCASE
    CASE "ring3-ds-own-code"
    TO_RING3
    mov ax, cs
    mov ds, ax
    int 0x30
    ENDCASE
    CASE "ring3-es-conforming-code-dpl0"
    TO_RING3
    mov ax, SEL_CONF | 3
    mov es, ax
    int 0x30
    ENDCASE
    CASE "gp-ring3-es-readable-code-dpl0"
    TO_RING3
    mov ax, SEL_RX | 3
    mov es, ax
    int 0x30
    ENDCASE

    ; ---- #GP and #SS from using segments
    CASE "gp-null-ds-read"
    xor eax, eax
    mov ds, ax
    mov eax, [0x30000]
    ENDCASE
    CASE "gp-null-es-stos"
    xor eax, eax
    mov es, ax
    mov edi, 0x30000
    stosb
    ENDCASE
    CASE "gp-null-fs-write"
    xor eax, eax
    mov fs, ax
    mov [fs:0x30000], eax
    ENDCASE
    CASE "gp-write-read-only-data"
    mov ax, SEL_RO
    mov ds, ax
    mov eax, [0x30000]
    mov [0x30000], eax
    ENDCASE
    CASE "gp-write-code"
    mov [cs:0x30000], eax
    ENDCASE
    CASE "gp-read-execute-only-code"
    jmp SEL_XO:.xo
.xo:
    mov eax, [cs:0x30000]
    ENDCASE
    CASE "gp-limit-dword-straddles"
    mov ax, SEL_LIM
    mov ds, ax
    mov eax, [0xffc]
    mov eax, [0xffd]
    ENDCASE
    CASE "gp-limit-byte-past"
    mov ax, SEL_LIM
    mov es, ax
    mov al, [es:0xfff]
    mov al, [es:0x1000]
    ENDCASE
    CASE "gp-limit-wraps-offset"
    mov ax, SEL_LIM
    mov ds, ax
    mov ebx, -1
    mov al, [ebx]
    ENDCASE
    CASE "gp-limit-rep-movsb"
    mov dword [exc_hook], print_string_regs
    mov ax, SEL_LIM
    mov es, ax
    mov esi, 0x30000
    mov edi, 0xff0
    mov ecx, 0x20
    rep movsb
    ENDCASE
    CASE "gp-expand-down-below"
    mov ax, SEL_ED
    mov ds, ax
    mov eax, [0xfffff000]
    mov eax, [0xffffeffc]
    ENDCASE
    CASE "gp-expand-down-straddles"
    mov ax, SEL_ED
    mov ds, ax
    mov eax, [0xffffeffe]
    ENDCASE
    CASE "ss-stack-limit-access"
    mov ax, SEL_STK
    mov ss, ax
    mov esp, 0x800
    mov eax, [ss:0xffc]
    mov eax, [ss:0x1000]
    ENDCASE
    CASE "ss-stack-limit-ebp"
    mov ax, SEL_STK
    mov ss, ax
    mov esp, 0x800
    mov ebp, 0xffe
    mov eax, [ebp]
    ENDCASE
    CASE "gp-stack-limit-ds-override"
    mov ax, SEL_STK
    mov ss, ax
    mov esp, 0x800
    mov ax, SEL_LIM
    mov ds, ax
    mov ebp, 0x1000
    mov eax, [ds:ebp]
    ENDCASE
    CASE "ss-expand-down-stack"
    mov ax, SEL_ED
    mov ss, ax
    mov esp, 0xfffff800
    mov eax, [ss:0xfffff000]
    mov eax, [ss:0xffffe000]
    ENDCASE
    CASE "ss-ring3-push-past-limit"
    TO_RING3
    mov ax, SEL_U3STK | 3
    mov ss, ax
    mov esp, 0x0c
    push eax
    push eax
    push eax
    push eax
    int 0x30
    ENDCASE
    CASE "ss-ring3-push-esp-after"
    TO_RING3
    mov ax, SEL_U3STK | 3
    mov ss, ax
    mov esp, 0x0c
    push eax
    push eax
    push eax
    mov eax, esp
    int 0x30
    PHEX32 "esp", eax
    ENDCASE
    CASE "ss-ring3-pop-past-limit"
    TO_RING3
    mov ax, SEL_U3STK | 3
    mov ss, ax
    mov esp, 0xffc
    pop eax
    pop eax
    int 0x30
    ENDCASE
    CASE "ss-ring3-enter-past-limit"
    TO_RING3
    mov ax, SEL_U3STK | 3
    mov ss, ax
    mov esp, 0x10
    enter 0x20, 0
    int 0x30
    ENDCASE

    ; ---- #GP, #NP from far transfers
    R0 "gp-jmp-far-null", {jmp 0:0}
    R0 "gp-jmp-far-data", {jmp KDATA:0}
    R0 "gp-jmp-far-dpl3-code", {jmp UCODE:0}
    R0 "gp-jmp-far-rpl3", {jmp KCODE | 3:0}
    R0 "np-jmp-far-absent", {jmp SEL_CNP:0}
    R0 "gp-jmp-far-beyond-limit", {jmp SEL_C64K:0x12345}
    R0 "gp-call-far-beyond-limit", {call SEL_C64K:0x10000}
    CASE "gp-jmp-far-ok"
    jmp SEL_RX:.there
.there:
    PSEG "cs", cs
    jmp KCODE:.back
.back:
    ENDCASE
    ; Past the limit lies INT 0x31, for a CPU that runs on.
    CASE "gp-fetch-past-code-limit"
    mov dword [0xfffc], 0x90909090
    mov dword [0x10000], 0x31cd
    jmp SEL_C64K:0xfffc
    ENDCASE
    CASE "gp-insn-straddles-code-limit"
    mov word [0xfffe], 0xb090
    mov dword [0x10000], 0x31cd00
    jmp SEL_C64K:0xfffe
    ENDCASE
    CASE "gp-ret-far-beyond-limit"
    mov dword [0x10000], 0x31cd
    push dword SEL_C64K
    push dword 0x10000
    retf
    ENDCASE
    CASE "gp-jmp-near-beyond-limit"
    mov dword [0x10000], 0x31cd
    jmp SEL_C64K:.low
.low:
    mov eax, 0x10000
    jmp eax
    ENDCASE

    ; ---- the IDT
    CASE "gp-int-beyond-idt-limit"
    lidt [small_idt]
    int 0x80
    ENDCASE
    call reset_gates
    R0 "gp-int-zero-gate", {int 0x41}
    R0 "np-int-gate-not-present", {int 0x39}
    R3 "gp-ring3-int-dpl0-gate", {int 0x21}
    R3 "gp-ring3-int-zero-gate", {int 0x42}
    R3 "np-ring3-int-not-present-dpl3", {int 0x3a}
    R3 "gp-ring3-int-not-present-dpl0", {int 0x39}
    R0 "gp-int-gate-data-selector", {int 0x32}
    R0 "gp-int-gate-bad-type", {int 0x33}
    R0 "np-int-gate-code-absent", {int 0x34}
    R0 "gp-int-gate-null-selector", {int 0x36}
    CASE "gp-int-gate-offset-beyond-limit"
    mov dword [0x12345], 0x31cd
    int 0x37
    ENDCASE
    R0 "int-trap-gate-16", {int 0x38}
    R3 "int-ring3-to-ring1", {int 0x35}

    ; ---- #TS and #SS from the inner stack in the TSS (ring 3 -> ring-1 handler)
    %macro SS1CASE 3
    CASE %1
    mov word [TSS_BASE + 0x10], %2
    mov dword [TSS_BASE + 0x0c], %3
    TO_RING3
    int 0x35
    int 0x30
    ENDCASE
    %endmacro
    SS1CASE "ts-ss1-null", 0, R1_STACK
    SS1CASE "ts-ss1-rpl0", SEL_R1D, R1_STACK
    SS1CASE "ts-ss1-dpl2", SEL_R2D | 1, R1_STACK
    SS1CASE "ts-ss1-read-only", SEL_R1RO | 1, R1_STACK
    SS1CASE "ts-ss1-code", SEL_R1C | 1, R1_STACK
    SS1CASE "ts-ss1-beyond-gdt", 0xfff9, R1_STACK
    SS1CASE "ts-ss1-system", SEL_LDT | 1, R1_STACK
    SS1CASE "ss-ss1-not-present", SEL_R1NP | 1, R1_STACK
    SS1CASE "ss-ss1-frame-beyond-limit", SEL_R1TINY | 1, 0x8
    CASE "ts-ss1-exception-sets-ext"
    mov word [TSS_BASE + 0x10], SEL_R1D
    SETGATE 6, SEL_R1C, ring1_handler, 0x8e00
    TO_RING3
    ud2
    int 0x30
    ENDCASE
    call reset_gates
    CASE "ts-tss-limit-too-small"
    mov word [TSS_BASE + 0x10], SEL_R1D | 1
    ; A TSS whose limit ends before SS1: the kernel's TSS, reloaded through a short descriptor.
    mov dword [gdt + TSS_SEL], ((TSS_BASE & 0xffff) << 16) | 0x0f
    mov dword [gdt + TSS_SEL + 4], 0x8900 | ((TSS_BASE >> 16) & 0xff)
    mov ax, TSS_SEL
    ltr ax
    TO_RING3
    int 0x35
    int 0x30
    ENDCASE
    call restore_tss
    mov word [TSS_BASE + 0x10], SEL_R1D | 1
    mov dword [TSS_BASE + 0x0c], R1_STACK

    ; ---- double faults and the benign/contributory rules
    CASE "df-np-during-np"
    and byte [IDT_BASE + 11 * 8 + 5], 0x7f
    int 0x39
    ENDCASE
    call reset_gates
    CASE "df-gp-during-de"
    mov byte [IDT_BASE + 0 * 8 + 5], 0x80
    xor ecx, ecx
    div ecx
    ENDCASE
    call reset_gates
    CASE "gp-during-ud-is-no-df"
    mov byte [IDT_BASE + 6 * 8 + 5], 0x80
    ud2
    ENDCASE
    call reset_gates
    CASE "df-np-during-gp-from-int-n"
    and byte [IDT_BASE + 13 * 8 + 5], 0x7f
    int 0x33
    ENDCASE
    call reset_gates
    CASE "ts-during-gp-is-df"
    SETGATE 13, SEL_R1C, ring1_handler, 0x8e00
    mov word [TSS_BASE + 0x10], 0
    TO_RING3
    mov ax, KDATA
    mov ds, ax
    int 0x30
    ENDCASE
    call reset_gates
    mov word [TSS_BASE + 0x10], SEL_R1D | 1

    ; ---- privileged instructions at ring 3 (IOPL 0)
    R3 "gp-ring3-hlt", {hlt}
    R3 "gp-ring3-cli", {cli}
    R3 "gp-ring3-sti", {sti}
    R3 "gp-ring3-mov-from-cr0", {mov eax, cr0}
    R3 "gp-ring3-mov-to-cr3", {mov cr3, eax}
    R3 "gp-ring3-mov-from-dr7", {mov eax, dr7}
    R3 "gp-ring3-lgdt", {lgdt [gdt_desc]}
    R3 "gp-ring3-lidt", {lidt [idt_desc]}
    R3 "gp-ring3-lldt", {lldt ax}
    R3 "gp-ring3-ltr", {ltr ax}
    R3 "gp-ring3-lmsw", {lmsw ax}
    R3 "gp-ring3-clts", {clts}
    R3 "gp-ring3-invlpg", {invlpg [0x30000]}
    R3 "gp-ring3-invd", {invd}
    R3 "gp-ring3-wbinvd", {wbinvd}
    R3 "gp-ring3-rdmsr", {rdmsr}
    R3 "gp-ring3-wrmsr", {wrmsr}
    R3 "gp-ring3-in", {in al, 0x80}
    R3 "gp-ring3-out-dx", {out dx, al}
    R3 "gp-ring3-insb", {insb}
    R3 "gp-ring3-rdpmc", {rdpmc}
    R3 "gp-ring3-sysexit", {sysexit}
    CASE "ring3-sgdt-smsw-str-allowed"
    TO_RING3
    sgdt [0x30000]
    smsw eax
    str ebx
    int 0x30
    PHEX16 "limit", [0x30000]
    PHEX32 "base", [0x30002]
    PHEX16 "msw", eax
    PHEX16 "tr", ebx
    ENDCASE
    CASE "ring3-rdtsc-allowed"
    TO_RING3
    rdtsc
    int 0x30
    ENDCASE
    CASE "gp-ring3-rdtsc-cr4-tsd"
    mov eax, cr4
    or eax, 4
    mov cr4, eax
    TO_RING3
    rdtsc
    int 0x30
    ENDCASE
    mov eax, cr4
    and eax, ~4
    mov cr4, eax
    CASE "ring3-popf-keeps-if-iopl"
    TO_RING3
    push dword 0x3202
    popfd
    pushfd
    pop eax
    int 0x30
    PHEX32 "eflags", eax
    ENDCASE

    ; ---- control registers and MSRs at ring 0
    ; Should the CPU take PG without PE, it finds an identity map (one 4 MiB page) and the next
    ; instruction puts CR0 back.
    CASE "gp-cr0-pg-without-pe"
    mov dword [PSE_PD], 0x83
    mov eax, PSE_PD
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov ebx, cr0
    mov eax, ebx
    and eax, ~1
    or eax, 0x80000000
    mov cr0, eax
    mov cr0, ebx
    ENDCASE
    mov eax, cr4
    and eax, ~0x10
    mov cr4, eax
    CASE "gp-cr0-nw-without-cd"
    mov eax, cr0
    and eax, ~0x40000000
    or eax, 0x20000000
    mov cr0, eax
    ENDCASE
    CASE "gp-rdmsr-absent"
    mov ecx, 0xdeadbeef
    rdmsr
    ENDCASE
    CASE "gp-wrmsr-absent"
    mov ecx, 0xdeadbeef
    wrmsr
    ENDCASE
    CASE "msr-sysenter-cs-roundtrip"
    mov ecx, 0x174
    mov eax, 0x1234
    xor edx, edx
    wrmsr
    xor eax, eax
    rdmsr
    PHEX32 "eax", eax
    PHEX32 "edx", edx
    ENDCASE
    CASE "ud-mov-dr4-with-cr4-de"
    mov eax, cr4
    or eax, 8
    mov cr4, eax
    mov eax, dr4
    ENDCASE
    mov eax, cr4
    and eax, ~8
    mov cr4, eax
    CASE "mov-dr4-aliases-dr6"
    mov eax, dr4
    mov ebx, dr6
    PHEX32 "dr4", eax
    PHEX32 "dr6", ebx
    ENDCASE

    jmp finish

; ---------------------------------------------------------------------------------------------

; The IDT as at boot, and the gates the IDT cases use.
reset_gates:
    call reset_idt
gates_for_tests:
    SETGATE 0x32, SEL_RO, stubs, 0x8e00
    SETGATE 0x33, KCODE, stubs, 0x8c00
    SETGATE 0x34, SEL_CNP, stubs, 0x8e00
    SETGATE 0x35, SEL_R1C, ring1_handler, 0xee00
    SETGATE 0x36, 0, stubs, 0x8e00
    SETGATE 0x37, SEL_C64K, 0x12345 - 0x7c00 + $$, 0x8e00   ; offset 0x12345, past the 64 KiB limit
    SETGATE 0x38, KCODE, trap16_handler, 0x8700
    SETGATE 0x39, KCODE, stubs, 0x0e00
    SETGATE 0x3a, KCODE, stubs, 0x6e00
    mov word [TSS_BASE + 0x10], SEL_R1D | 1
    mov dword [TSS_BASE + 0x0c], R1_STACK
    ret

; A ring-1 handler: reports where it runs, through int 0x30 (which keeps the registers).
ring1_handler:
    mov eax, cs
    mov ebx, ss
    mov ecx, esp
    int 0x30
    PHEX16 "cs", eax
    PHEX16 "ss", ebx
    PHEX32 "esp", ecx
    jmp recover

; A 16-bit trap gate's handler: its frame is three words, IF is kept.
trap16_handler:
    movzx eax, word [esp]
    movzx ebx, word [esp + 2]
    movzx ecx, word [esp + 4]
    PHEX16 "ip", eax
    PHEX16 "cs", ebx
    PHEX16 "flags", ecx
    mov eax, esp
    PHEX32 "esp", eax
    jmp recover

; A hook: the string registers at the fault.
print_string_regs:
    PHEX32 "ecx", [esp + 24]
    PHEX32 "esi", [esp + 4]
    PHEX32 "edi", [esp + 0]
    jmp recover

clear_ldt:
    xor eax, eax
    lldt ax
    ret

; The kernel's TSS descriptor as at boot, reloaded into TR.
restore_tss:
    mov dword [gdt + TSS_SEL], ((TSS_BASE & 0xffff) << 16) | 0x67
    mov dword [gdt + TSS_SEL + 4], 0x8900 | ((TSS_BASE >> 16) & 0xff)
    mov ax, TSS_SEL
    ltr ax
    ret

align 4
small_idt:
    dw 0x80 * 8 - 1
    dd IDT_BASE
