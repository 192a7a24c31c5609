; Conformance kernel: hardware task switches. JMP and CALL to a TSS and through task gates (in
; the GDT, from ring 3, in the IDT for INT n and for exceptions), IRET with NT back along the
; back link, nesting; the busy bits, NT and the link field as each task sees them; the state saved
; in the old TSS and loaded from the new one, CR0.TS; the faults of a switch before and after its
; commit point (#TS, #NP, #GP for busy TSSs); a 16-bit TSS; the T bit; a double fault through a
; task gate rescuing a kernel stack overflow; LTR.
; Build: nasm -f bin -o tasks.bin tasks.asm

%include "lib.inc"

TSS_B     equ 0x25000
TSS_C     equ 0x25100
TSS_DF    equ 0x25200
TSS_GP    equ 0x25300
TSS_16    equ 0x25400
LDT_BASE  equ 0x25800
STACK_B   equ 0x60000
STACK_C   equ 0x5f000
STACK_DF  equ 0x5e000
STACK_GP  equ 0x5d000
PD        equ 0x30000                 ; paging for the stack-overflow case
PT        equ 0x31000
HOLE      equ 0x50000                 ; the page left out of that map

SEL_TB    equ $ - gdt                 ; TSS B
    DESC TSS_B, 0x67, 0x89, 0
SEL_TC    equ $ - gdt                 ; TSS C
    DESC TSS_C, 0x67, 0x89, 0
SEL_TDF   equ $ - gdt                 ; the double-fault task
    DESC TSS_DF, 0x67, 0x89, 0
SEL_TGP   equ $ - gdt                 ; the #GP task
    DESC TSS_GP, 0x67, 0x89, 0
SEL_T16   equ $ - gdt                 ; a 16-bit TSS
    DESC TSS_16, 0x2b, 0x81, 0
SEL_TSHORT equ $ - gdt                ; TSS B through a descriptor whose limit is too small
    DESC TSS_B, 0x60, 0x89, 0
SEL_TNP   equ $ - gdt                 ; TSS B, not present
    DESC TSS_B, 0x67, 0x09, 0
SEL_TB3   equ $ - gdt                 ; TSS B with DPL 3
    DESC TSS_B, 0x67, 0xe9, 0
SEL_TGB   equ ($ - gdt) | 3           ; task gate to TSS B, DPL 3
    GATE SEL_TB, 0, 0xe5, 0
SEL_TGB0  equ $ - gdt                 ; task gate to TSS B, DPL 0
    GATE SEL_TB, 0, 0x85, 0
SEL_TGNP  equ $ - gdt                 ; task gate, not present
    GATE SEL_TB, 0, 0x65, 0
SEL_TGDATA equ $ - gdt                ; task gate naming a data segment
    GATE KDATA, 0, 0x85, 0
SEL_LDT   equ $ - gdt                 ; an LDT: index 1 is flat data, DPL 0; 2 is TSS B
    DESC LDT_BASE, 0x17, 0x82, 0
SEL_DNP   equ $ - gdt                 ; data, not present
    DESC 0, 0xfffff, 0x12, 0xc
gdt_end:

; TCASE "name": a case that starts with every TSS available and the kernel's task in TR.
%macro TCASE 1
    call reset_tasks
    CASE %1
%endmacro

; TASKGATE vector, TSS selector, type word: a task gate in the IDT.
%macro TASKGATE 3
    mov dword [IDT_BASE + (%1) * 8], (%2) << 16
    mov dword [IDT_BASE + (%1) * 8 + 4], (%3)
%endmacro

; TASK tss, entry, stack: a fresh 32-bit TSS for a task that starts at `entry`.
%macro TASK 3
    mov edi, %1
    mov eax, %2
    mov ebx, %3
    call init_task
%endmacro

main:
    PUTS "conformance: tasks", 10
    mov dword [LDT_BASE], 0
    mov dword [LDT_BASE + 4], 0
    mov dword [LDT_BASE + 8], 0x0000ffff
    mov dword [LDT_BASE + 12], 0x00cf9300
    mov eax, [gdt + SEL_TB]             ; index 2: a copy of TSS B's descriptor
    mov [LDT_BASE + 16], eax
    mov eax, [gdt + SEL_TB + 4]
    mov [LDT_BASE + 20], eax

    ; ---- JMP, CALL, IRET
    TCASE "jmp-tss-and-jmp-back"
    TASK TSS_B, task_jmp_back, STACK_B
    mov eax, 0x11112222
    jmp SEL_TB:0
    PHEX32 "main-eax", eax
    call print_types
    PHEX32 "saved-eip", [TSS_B + 0x20]
    PHEX16 "b-link", [TSS_B]
    ENDCASE
    TCASE "call-tss-and-iret-back"
    TASK TSS_B, task_iret, STACK_B
    mov eax, 0x33334444
    call SEL_TB:0
    PHEX32 "main-eax", eax
    pushfd
    pop eax
    PHEX32 "eflags", eax
    call print_types
    PHEX16 "b-link", [TSS_B]
    PHEX32 "b-saved-eflags", [TSS_B + 0x24]
    ENDCASE
    TCASE "call-task-gate"
    TASK TSS_B, task_iret, STACK_B
    call SEL_TGB0:0x12345678
    call print_types
    ENDCASE
    TCASE "jmp-task-gate"
    TASK TSS_B, task_jmp_back, STACK_B
    jmp SEL_TGB0:0
    call print_types
    ENDCASE
    TCASE "call-task-gate-from-ring3"
    TASK TSS_B, task_iret, STACK_B
    TO_RING3
    call SEL_TGB:0
    mov eax, cs
    int 0x30
    PHEX16 "back-cs", eax
    ENDCASE
    TCASE "gp-call-tss-dpl0-from-ring3"
    TASK TSS_B, task_iret, STACK_B
    TO_RING3
    call SEL_TB | 3:0
    int 0x30
    ENDCASE
    TCASE "call-tss-dpl3-from-ring3"
    TASK TSS_B, task_iret, STACK_B
    TO_RING3
    call SEL_TB3 | 3:0
    int 0x30
    ENDCASE
    TCASE "gp-call-task-gate-dpl0-from-ring3"
    TO_RING3
    call (SEL_TGB0 | 3):0
    int 0x30
    ENDCASE
    TCASE "np-call-task-gate-not-present"
    call SEL_TGNP:0
    ENDCASE
    TCASE "gp-task-gate-to-data-segment"
    call SEL_TGDATA:0
    ENDCASE
    TCASE "np-jmp-tss-not-present"
    jmp SEL_TNP:0
    ENDCASE
    TCASE "gp-jmp-busy-tss"
    jmp TSS_SEL:0
    ENDCASE
    TCASE "gp-call-busy-tss-from-nested-task"
    TASK TSS_B, task_call_main, STACK_B
    call SEL_TB:0
    ENDCASE
    TCASE "ts-tss-limit-too-small"
    TASK TSS_B, task_iret, STACK_B
    call SEL_TSHORT:0
    ENDCASE
    TCASE "gp-jmp-tss-in-ldt"
    mov ax, SEL_LDT
    lldt ax
    jmp 0x14:0
    ENDCASE
    TCASE "ts-iret-nt-link-not-busy"
    TASK TSS_B, task_iret, STACK_B
    mov word [TSS_BASE], SEL_TB
    pushfd
    or dword [esp], 0x4000
    popfd
    iret
    ENDCASE
    TCASE "ts-iret-nt-null-link"
    mov word [TSS_BASE], 0
    pushfd
    or dword [esp], 0x4000
    popfd
    iret
    ENDCASE
    TCASE "nested-call-call-iret-iret"
    TASK TSS_B, task_call_c, STACK_B
    TASK TSS_C, task_iret, STACK_C
    call SEL_TB:0
    call print_types
    PHEX16 "b-link", [TSS_B]
    PHEX16 "c-link", [TSS_C]
    ENDCASE
    TCASE "task-switch-sets-cr0-ts"
    clts
    TASK TSS_B, task_cr0, STACK_B
    call SEL_TB:0
    mov eax, cr0
    and eax, 8
    PHEX8 "main-ts", eax
    clts
    ENDCASE
    TCASE "task-switch-saves-registers"
    TASK TSS_B, task_iret, STACK_B
    mov eax, 0x01010101
    mov ecx, 0x02020202
    mov edx, 0x03030303
    mov ebx, 0x04040404
    mov ebp, 0x06060606
    mov esi, 0x07070707
    mov edi, 0x08080808
    mov word [TSS_BASE], 0xffff
    call SEL_TB:0
    PHEX32 "eax", [TSS_BASE + 0x28]
    PHEX32 "ecx", [TSS_BASE + 0x2c]
    PHEX32 "edi", [TSS_BASE + 0x44]
    PHEX16 "cs", [TSS_BASE + 0x4c]
    PHEX16 "ss", [TSS_BASE + 0x50]
    PHEX16 "link", [TSS_BASE]
    mov eax, [TSS_BASE + 0x38]
    sub eax, [case_esp]
    PHEX32 "esp-delta", eax
    ENDCASE

    ; ---- faults after the commit point happen in the new task
    TCASE "ts-new-task-bad-ds"
    TASK TSS_B, task_iret, STACK_B
    mov word [TSS_B + 0x54], gdt_end - gdt
    call SEL_TB:0
    ENDCASE
    TCASE "np-new-task-ds-not-present"
    TASK TSS_B, task_iret, STACK_B
    mov word [TSS_B + 0x54], SEL_DNP
    jmp SEL_TB:0
    ENDCASE
    ; A fault before CS and SS are loaded leaves no stack to push on: #TS goes to a task.
    TCASE "ts-new-task-cs-is-data-through-task-gate"
    TASK TSS_GP, task_gp, STACK_GP
    TASKGATE 10, SEL_TGP, 0x8500
    TASK TSS_B, task_iret, STACK_B
    mov word [TSS_B + 0x4c], KDATA
    jmp SEL_TB:0
    ENDCASE
    call reset_idt
    TCASE "ts-new-task-bad-ldt-through-task-gate"
    TASK TSS_GP, task_gp, STACK_GP
    TASKGATE 10, SEL_TGP, 0x8500
    TASK TSS_B, task_iret, STACK_B
    mov word [TSS_B + 0x60], KDATA
    jmp SEL_TB:0
    ENDCASE
    call reset_idt
    TCASE "new-task-ldt-and-ds-from-ldt"
    TASK TSS_B, task_ldt, STACK_B
    mov word [TSS_B + 0x60], SEL_LDT
    mov word [TSS_B + 0x54], 0x0c
    call SEL_TB:0
    ENDCASE
    TCASE "new-task-at-ring3"
    TASK TSS_B, task_ring3, STACK3
    mov word [TSS_B + 0x4c], UCODE
    mov word [TSS_B + 0x50], UDATA
    mov word [TSS_B + 0x54], UDATA
    mov word [TSS_B + 0x48], UDATA
    mov word [TSS_B + 0x58], 0
    mov word [TSS_B + 0x5c], 0
    jmp SEL_TB:0
    ENDCASE

    ; ---- task gates in the IDT
    TCASE "int-n-through-task-gate"
    TASK TSS_C, task_iret, STACK_C
    TASKGATE 0x40, SEL_TC, 0xe500
    int 0x40
    call print_types
    ENDCASE
    call reset_idt
    TCASE "gp-through-task-gate-pushes-error-code"
    TASK TSS_GP, task_gp, STACK_GP
    TASKGATE 13, SEL_TGP, 0x8500
    mov ax, gdt_end - gdt + 0x40
    mov ds, ax
    ENDCASE
    call reset_idt
    TCASE "df-through-task-gate-np-during-np"
    TASK TSS_DF, task_df, STACK_DF
    TASKGATE 8, SEL_TDF, 0x8500
    mov ebx, 0x41                       ; a valid gate, not present
    mov eax, stubs
    mov ecx, 0x0e00
    call set_gate
    and byte [IDT_BASE + 11 * 8 + 5], 0x7f
    int 0x41
    ENDCASE
    call reset_idt
    TCASE "df-task-gate-rescues-kernel-stack-overflow"
    call paging_on
    TASK TSS_DF, task_df, STACK_DF
    TASKGATE 8, SEL_TDF, 0x8500
    mov esp, HOLE + 0x1000
    push eax
    ENDCASE
    call reset_idt
    call paging_off

    ; ---- a 16-bit TSS, the T bit, LTR
    TCASE "call-16-bit-tss"
    call init_task16
    call SEL_T16:0
    PHEX16 "link", [TSS_16]
    PHEX16 "saved-ip", [TSS_16 + 0x0e]
    PHEX16 "saved-flags", [TSS_16 + 0x10]
    PHEX16 "saved-ax", [TSS_16 + 0x12]
    call print_types
    ENDCASE
    TCASE "16-bit-tss-loads-the-low-halves-of-registers"
    call init_task16
    mov word [TSS_16 + 0x0e], task16_regs
    mov word [TSS_16 + 0x12], 0x1111  ; AX
    mov word [TSS_16 + 0x14], 0x2222  ; CX
    mov word [TSS_16 + 0x16], 0x3333  ; DX
    mov word [TSS_16 + 0x18], 0x4444  ; BX
    mov word [TSS_16 + 0x1a], 0x5555  ; SP
    mov word [TSS_16 + 0x1c], 0x6666  ; BP
    mov word [TSS_16 + 0x1e], 0x7777  ; SI
    mov word [TSS_16 + 0x20], 0x8888  ; DI
    mov eax, 0xa1a10000
    mov ecx, 0xa2a20000
    mov edx, 0xa3a30000
    mov ebx, 0xa4a40000
    mov ebp, 0xa6a60000
    mov esi, 0xa7a70000
    mov edi, 0xa8a80000
    call SEL_T16:0
%assign r 0
%rep 8
    PHEX32 "r", [task16_saved + r * 4]
%assign r r + 1
%endrep
    ENDCASE
    TCASE "tss-t-bit-traps-in-new-task"
    mov dword [exc_hook], print_dr6
    TASK TSS_B, task_iret, STACK_B
    mov byte [TSS_B + 0x64], 1
    call SEL_TB:0
    ENDCASE
    xor eax, eax
    mov dr6, eax
    TCASE "ltr-marks-busy"
    mov byte [gdt + SEL_TB + 5], 0x89
    mov ax, SEL_TB
    ltr ax
    str ebx
    PHEX16 "tr", ebx
    movzx eax, byte [gdt + SEL_TB + 5]
    PHEX8 "type", eax
    ENDCASE
    TCASE "gp-ltr-busy"
    mov ax, TSS_SEL
    ltr ax
    ENDCASE
    TCASE "gp-ltr-data"
    mov ax, KDATA
    ltr ax
    ENDCASE
    TCASE "gp-ltr-null"
    xor eax, eax
    ltr ax
    ENDCASE
    TCASE "np-ltr-not-present"
    mov ax, SEL_TNP
    ltr ax
    ENDCASE
    TCASE "gp-ltr-ldt-selector"
    mov ax, SEL_TB | 4
    ltr ax
    ENDCASE

    call reset_tasks
    jmp finish

; ---------------------------------------------------------------------------------------------
; Task bodies: each reports from inside the new task.

; Prints TR, NT and the types of the kernel's, B's and C's TSS descriptors, then JMPs back.
task_jmp_back:
    PHEX32 "b-eax", eax
    call print_task
    jmp TSS_SEL:0

; Reports and returns along the back link.
task_iret:
    PHEX32 "eax", eax
    call print_task
    iret

; B calls the kernel's task, which is busy.
task_call_main:
    call TSS_SEL:0
    iret

; B calls C, then returns.
task_call_c:
    PUTS " b:"
    call print_task
    call SEL_TC:0
    PUTS " b-again:"
    call print_task
    iret

task_cr0:
    mov eax, cr0
    and eax, 8
    PHEX8 "ts", eax
    iret

task_ldt:
    PSEG "ds", ds
    sldt eax
    PHEX16 "ldtr", eax
    mov eax, [0x7c00]
    PHEX32 "m", eax
    iret

; A task that starts at ring 3: it reports through int 0x30.
task_ring3:
    mov eax, cs
    mov ebx, ss
    str ecx
    int 0x30
    PHEX16 "cs", eax
    PHEX16 "ss", ebx
    PHEX16 "tr", ecx
    jmp recover

; The #GP (and #TS) task: the error code is on its stack; the faulting task's state is in its
; TSS, named by the back link.
task_gp:
    pop eax
    PHEX16 "task-ec", eax
    call print_task
    PHEX16 "link", [TSS_GP]
    PHEX32 "main-eip", [TSS_BASE + 0x20]
    PHEX32 "b-eip", [TSS_B + 0x20]
    PHEX16 "b-cs", [TSS_B + 0x4c]
    jmp recover

; The double-fault task.
task_df:
    pop eax
    PHEX16 "df-task-ec", eax
    mov eax, cr2
    PHEX32 "cr2", eax
    call print_task
    PHEX32 "main-esp", [TSS_BASE + 0x38]
    jmp recover

; print_task: TR, the NT flag, the back link of the current TSS and the busy bits.
print_task:
    pushad
    str eax
    PHEX16 "tr", eax
    pushfd
    pop eax
    shr eax, 14
    and eax, 1
    PHEX8 "nt", eax
    call print_types
    popad
    ret

; print_types: the type bytes of the kernel's TSS, B's and C's.
print_types:
    push eax
    movzx eax, byte [gdt + TSS_SEL + 5]
    PHEX8 "k", eax
    movzx eax, byte [gdt + SEL_TB + 5]
    PHEX8 "b", eax
    movzx eax, byte [gdt + SEL_TC + 5]
    PHEX8 "c", eax
    pop eax
    ret

; A hook: DR6 at a debug exception.
print_dr6:
    mov eax, dr6
    PHEX32 "dr6", eax
    str eax
    PHEX16 "tr", eax
    jmp recover

; ---------------------------------------------------------------------------------------------

; init_task: a 32-bit TSS at EDI for a task at EIP = EAX with ESP = EBX: flat kernel segments,
; EFLAGS 2, recognisable registers, this CR3, no LDT, no T bit, no I/O bitmap.
init_task:
    pushad
    mov esi, eax
    push edi
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    pop edi
    mov [edi + 0x20], esi
    mov [edi + 0x38], ebx
    mov dword [edi + 0x24], 2
    mov dword [edi + 0x28], 0xaaaa0001
    mov dword [edi + 0x2c], 0xaaaa0002
    mov dword [edi + 0x30], 0xaaaa0003
    mov dword [edi + 0x34], 0xaaaa0004
    mov dword [edi + 0x3c], 0xaaaa0006
    mov dword [edi + 0x40], 0xaaaa0007
    mov dword [edi + 0x44], 0xaaaa0008
    mov word [edi + 0x48], KDATA
    mov word [edi + 0x4c], KCODE
    mov word [edi + 0x50], KDATA
    mov word [edi + 0x54], KDATA
    mov word [edi + 0x58], KDATA
    mov word [edi + 0x5c], KDATA
    mov eax, cr3
    mov [edi + 0x1c], eax
    mov dword [edi + 4], ESP0
    mov dword [edi + 8], KDATA
    mov word [edi + 0x66], 0x68
    popad
    ret

; init_task16: the 16-bit TSS: IP = task16, AX = 0x1616 once it ran; it uses no stack.
init_task16:
    pushad
    mov edi, TSS_16
    xor eax, eax
    mov ecx, 0x2c / 2
    rep stosw
    mov word [TSS_16 + 0x0e], task16
    mov word [TSS_16 + 0x10], 2
    mov word [TSS_16 + 0x22], KDATA     ; ES
    mov word [TSS_16 + 0x24], KCODE     ; CS
    mov word [TSS_16 + 0x26], KDATA     ; SS
    mov word [TSS_16 + 0x28], KDATA     ; DS
    popad
    ret

task16:
    mov ax, 0x1616
    iret

; task16_regs: the 16-bit task keeps its eight registers, whole, in task16_saved.
task16_regs:
    mov [task16_saved], eax
    mov [task16_saved + 4], ecx
    mov [task16_saved + 8], edx
    mov [task16_saved + 12], ebx
    mov [task16_saved + 16], esp
    mov [task16_saved + 20], ebp
    mov [task16_saved + 24], esi
    mov [task16_saved + 28], edi
    iret
task16_saved: times 8 dd 0

; reset_tasks: every TSS available, the kernel's task in TR, no LDT.
reset_tasks:
    push eax
    mov byte [gdt + TSS_SEL + 5], 0x89
    mov byte [gdt + SEL_TB + 5], 0x89
    mov byte [gdt + SEL_TC + 5], 0x89
    mov byte [gdt + SEL_TDF + 5], 0x89
    mov byte [gdt + SEL_TGP + 5], 0x89
    mov byte [gdt + SEL_T16 + 5], 0x81
    mov byte [gdt + SEL_TB3 + 5], 0xe9
    mov ax, TSS_SEL
    ltr ax
    xor eax, eax
    lldt ax
    mov dword [TSS_BASE], 0
    pop eax
    ret

; paging_on: identity map of 0-4 MiB with 4 KiB pages, but for the page at HOLE.
paging_on:
    pushad
    mov edi, PT
    mov eax, 3
    mov ecx, 1024
.pte:
    stosd
    add eax, 0x1000
    loop .pte
    mov dword [PT + (HOLE >> 12) * 4], 0
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PD], PT | 3
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
    and eax, ~0x80000000
    mov cr0, eax
    xor eax, eax
    mov cr3, eax
    pop eax
    ret
