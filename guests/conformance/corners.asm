; Conformance kernel: IA32 corners a held-out 386 test ROM and a user-mode instruction test found.
; POP SS/DS/ES/FS/GS with both operand sizes on 16- and 32-bit stacks (the stack pointer moves by
; the width of the stack the value came from; a faulting POP SS leaves it); ENTER on a 16-bit
; stack, with nesting levels, and its check of the final stack pointer; ARPL on a read-only
; segment; the hint-NOP space 0F 18-0F 1F with memory operands on a not-present page, and ENDBR32;
; single-step traps through REP string instructions and across MOV SS and POP SS.
; Build: nasm -f bin -o corners.bin corners.asm

%include "lib.inc"

STK16_BASE equ 0x50000                ; the 16-bit stack segment's base
PD         equ 0x200000               ; paging: identity map of 0-4 MiB, user and writable,
PT0        equ 0x201000               ; but for SUPER_PAGE and ABSENT_PAGE
SUPER_PAGE equ 0x60000                ; supervisor-only
ABSENT_PAGE equ 0x70000               ; not present

SEL_STK16 equ $ - gdt                 ; data, B = 0 (a 16-bit stack), base 0x50000, 64 KiB
    DESC STK16_BASE, 0xffff, 0x93, 0x0
SEL_RO    equ $ - gdt                 ; read-only flat data
    DESC 0, 0xfffff, 0x91, 0xc
gdt_end:

main:
    PUTS "conformance: corners", 10

; ---------------------------------------------------------------------------------------------
; POP of a segment register: (E)SP moves as the stack the value was read from.

    CASE "pop-ss-o32-stack16-to-stack32"
    mov ax, SEL_STK16
    mov ss, ax
    mov esp, 0xabcdfffc
    mov dword [STK16_BASE + 0xfffc], KDATA
    o32 pop ss                        ; SP wraps to 0; ESP's upper half stays
    mov ebx, esp
    mov esp, [case_esp]
    PHEX32 "esp", ebx
    PSEG "ss", ss
    ENDCASE

    CASE "pop-ss-o16-stack16-to-stack32"
    mov ax, SEL_STK16
    mov ss, ax
    mov esp, 0xabcdfffe
    mov word [STK16_BASE + 0xfffe], KDATA
    o16 pop ss
    mov ebx, esp
    mov esp, [case_esp]
    PHEX32 "esp", ebx
    PSEG "ss", ss
    ENDCASE

    CASE "pop-ss-o32-stack32-to-stack16"
    mov esp, STK16_BASE + 0xfffc      ; flat: linear 0x5fffc, offset 0xfffc of the 16-bit stack
    mov dword [esp], SEL_STK16
    o32 pop ss                        ; all of ESP moves: 0x60000
    mov ebx, esp
    mov ax, KDATA
    mov ss, ax
    mov esp, [case_esp]
    PHEX32 "esp", ebx
    ENDCASE

    CASE "pop-sregs-o16-o32-stack16"
    mov ax, SEL_STK16
    mov ss, ax
    mov esp, 0xabcdfff4
    mov dword [STK16_BASE + 0xfff4], 0xffff0000 | UDATA
    mov word [STK16_BASE + 0xfff8], UDATA
    mov dword [STK16_BASE + 0xfffa], 0xffff0000 | UDATA
    mov word [STK16_BASE + 0xfffe], UDATA
    o32 pop ds
    o16 pop es
    o32 pop fs
    o16 pop gs
    mov ebx, esp
    mov ax, KDATA
    mov ss, ax
    mov esp, [case_esp]
    PHEX32 "esp", ebx
    PSEG "ds", ds
    PSEG "es", es
    PSEG "fs", fs
    PSEG "gs", gs
    ENDCASE

    CASE "pop-ss-fault-leaves-esp"
    mov dword [exc_hook], hook_esp
    push dword SEL_RO                 ; not a writable data segment: #GP(selector)
    mov [before_esp], esp
    PHEX32 "before", [before_esp]
    o32 pop ss
    ENDCASE

; ---------------------------------------------------------------------------------------------
; ENTER: (E)BP and (E)SP at the stack's width, and every access checked before any is made.

    CASE "enter-o32-stack16"
    mov ax, SEL_STK16
    mov ss, ax
    mov esp, 0xabcd1000
    mov ebp, 0x12345678
    o32 enter 8, 0
    mov ebx, esp
    mov ecx, ebp
    mov ax, KDATA
    mov ss, ax
    mov esp, [case_esp]
    PHEX32 "esp", ebx
    PHEX32 "ebp", ecx
    PHEX32 "saved", [STK16_BASE + 0xffc]
    ENDCASE

    CASE "enter-o32-stack16-level2"
    mov ax, SEL_STK16
    mov ss, ax
    mov esp, 0x1000                   ; ESP's upper half clear: QEMU pushes all of ESP - 4 as
    mov ebp, 0x77772000               ; FrameTemp, the SDM SP zero-extended
    mov dword [STK16_BASE + 0x1ffc], 0xdeadbeef
    o32 enter 4, 2
    mov ebx, esp
    mov ecx, ebp
    mov ax, KDATA
    mov ss, ax
    mov esp, [case_esp]
    PHEX32 "esp", ebx
    PHEX32 "ebp", ecx
    PHEX32 "m0", [STK16_BASE + 0xffc]
    PHEX32 "m1", [STK16_BASE + 0xff8]
    PHEX32 "m2", [STK16_BASE + 0xff4]
    ENDCASE

    CASE "enter-o16-stack32-level3"
    mov esp, 0x6000
    mov ebp, 0x7000
    mov word [0x6ffe], 0xaaaa
    mov word [0x6ffc], 0xbbbb
    o16 enter 6, 3
    mov ebx, esp
    mov ecx, ebp
    mov esp, [case_esp]
    PHEX32 "esp", ebx
    PHEX32 "ebp", ecx
    PHEX32 "m0", [0x5ffc]
    PHEX32 "m1", [0x5ff8]
    ENDCASE

    CASE "enter-pf-final-esp-on-supervisor-page"
    call paging_on
    mov dword [SUPER_PAGE + 0x1004], 0x5a5a5a5a
    mov dword [exc_hook], hook_peek
    mov dword [peek_addr], SUPER_PAGE + 0x1004
    TO_RING3
    mov esp, SUPER_PAGE + 0x1008      ; the push lands on a user page, the frame's end below it
    mov ebp, 0x11111111
    enter 0x20, 0
    int 0x30
    ENDCASE
    call paging_off

    CASE "enter-pf-level-copy-on-supervisor-page"
    call paging_on
    TO_RING3
    mov esp, SUPER_PAGE + 0x1004
    mov ebp, SUPER_PAGE + 0x1100
    enter 0, 3
    int 0x30
    ENDCASE
    call paging_off

; ---------------------------------------------------------------------------------------------
; ARPL: a memory destination is written only when its RPL changes.

    CASE "arpl-read-only-segment-rpl-stays"
    mov word [0x3000], 0x0013
    mov ax, SEL_RO
    mov ds, ax
    mov ax, 1
    arpl [0x3000], ax
    setz bl
    mov ax, KDATA
    mov ds, ax
    PHEX8 "zf", ebx
    PHEX16 "m", [0x3000]
    ENDCASE

    CASE "arpl-read-only-segment-rpl-raised"
    mov word [0x3000], 0x0010
    mov ax, SEL_RO
    mov ds, ax
    mov ax, 3
    arpl [0x3000], ax
    ENDCASE

    CASE "arpl-read-only-page-rpl-stays"
    call paging_on
    mov eax, cr0
    or eax, 0x10000                   ; WP: a supervisor write to a read-only page faults
    mov cr0, eax
    mov word [ABSENT_PAGE + 0x2000], 0x0012
    and dword [PT0 + ((ABSENT_PAGE + 0x2000) >> 12) * 4], ~2
    invlpg [ABSENT_PAGE + 0x2000]
    mov ax, 2
    arpl [ABSENT_PAGE + 0x2000], ax
    ENDCASE
    call paging_off

; ---------------------------------------------------------------------------------------------
; The hint-NOP space: NOPs whose memory operand is never accessed.

    CASE "hint-nops-on-absent-page"
    call paging_on
    mov eax, 0x12345678
    prefetchnta [ABSENT_PAGE]
    prefetcht0 [ABSENT_PAGE + 0x10]
    prefetcht1 [ABSENT_PAGE]
    prefetcht2 [ABSENT_PAGE]
    db 0x0f, 0x18, 0x25               ; 0F 18 /4
    dd ABSENT_PAGE
    db 0x0f, 0x19, 0x05
    dd ABSENT_PAGE
    db 0x0f, 0x1a, 0x05
    dd ABSENT_PAGE
    db 0x66, 0x0f, 0x1b, 0x05
    dd ABSENT_PAGE
    db 0x0f, 0x1c, 0x05
    dd ABSENT_PAGE
    db 0x0f, 0x1d, 0x3d
    dd ABSENT_PAGE
    db 0xf3, 0x0f, 0x1e, 0x05
    dd ABSENT_PAGE
    nop dword [ABSENT_PAGE]
    db 0x0f, 0x19, 0xc0
    db 0x0f, 0x1d, 0xc1
    db 0xf3, 0x0f, 0x1e, 0xc8         ; RDSSPD EAX: a NOP without CET
    endbr32
    PHEX32 "eax", eax
    ENDCASE
    call paging_off

    CASE "hint-nop-prefetch-register-forms"
    db 0x0f, 0x18, 0xc0
    db 0x0f, 0x18, 0xc9
    db 0x0f, 0x18, 0xd2
    db 0x0f, 0x18, 0xdb
    ENDCASE

    CASE "ud-lock-hint-nop"
    db 0xf0, 0x0f, 0x18, 0x00
    ENDCASE

; ---------------------------------------------------------------------------------------------
; Single-step: a REP string instruction traps after each iteration; MOV SS and POP SS hold the
; trap until the next instruction has run. Each #DB prints its EIP (and the hook CX), then IRETs.

    CASE "tf-rep-movsb-traps-each-iteration"
    mov dword [exc_hook], hook_db
    mov esi, 0x3000
    mov edi, 0x3100
    mov ecx, 3
    pushfd
    or dword [esp], 0x100
    popfd
    rep movsb
    nop
    pushfd
    and dword [esp], ~0x100
    popfd
    ENDCASE

    CASE "tf-repe-cmpsb-stops-on-mismatch"
    mov dword [exc_hook], hook_db
    mov dword [0x3000], 0x44332211
    mov dword [0x3100], 0x44ff2211
    mov esi, 0x3000
    mov edi, 0x3100
    mov ecx, 4
    pushfd
    or dword [esp], 0x100
    popfd
    repe cmpsb
    pushfd
    and dword [esp], ~0x100
    popfd
    ENDCASE

    CASE "tf-mov-ss-holds-the-trap"
    mov dword [exc_hook], hook_db
    pushfd
    or dword [esp], 0x100
    popfd
    mov ax, ss
    mov ss, ax
    mov ebx, 1
    push ss
    pop ss
    mov ecx, 2
    pushfd
    and dword [esp], ~0x100
    popfd
    ENDCASE

    jmp finish

; ---------------------------------------------------------------------------------------------

; A hook: ESP at the fault (the frame a same-ring exception pushed sits above the registers).
hook_esp:
    lea eax, [esp + FRAME + 20]
    PHEX32 "esp", eax
    jmp recover

; A hook for single-step traps: CX at the trap, then back to the stepped code.
hook_db:
    PHEX16 "cx", [esp + 24]
    popad
    add esp, 8                        ; the vector and the error code slot
    iret

; A hook: the doubleword at [peek_addr] after the fault.
hook_peek:
    mov eax, [peek_addr]
    PHEX32 "m", [eax]
    jmp recover

; paging_on: identity map of 0-4 MiB, user and writable, but SUPER_PAGE (supervisor) and
; ABSENT_PAGE (not present); CR0.WP clear.
paging_on:
    pushad
    mov edi, PT0
    mov eax, 7
    mov ecx, 1024
.id:
    stosd
    add eax, 0x1000
    loop .id
    and dword [PT0 + (SUPER_PAGE >> 12) * 4], ~4
    and dword [PT0 + (ABSENT_PAGE >> 12) * 4], ~1
    mov dword [PD], PT0 | 7
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    popad
    ret

paging_off:
    push eax
    mov eax, cr0
    and eax, 0x7ffeffff
    mov cr0, eax
    pop eax
    ret

align 4
before_esp: dd 0
peek_addr:  dd 0
