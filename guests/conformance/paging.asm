; Conformance kernel: paging. 32-bit paging with 4 KiB and 4 MiB (PSE) pages: #PF error codes
; (P, W/R, U/S) and CR2 for reads, writes and fetches from rings 0 and 3, through PDEs and PTEs,
; accesses and instructions that straddle pages, CR0.WP; accessed and dirty bits as the page
; tables show them after each access; INVLPG, CR3 reloads and global pages. Then PAE paging:
; 4 KiB and 2 MiB pages, execute-disable with EFER.NXE and the I/D bit, reserved-bit faults, and
; the PDPTE registers. Page faults while delivering one end in #DF.
; Build: nasm -f bin -o paging.bin paging.asm

%include "lib.inc"

PD        equ 0x200000                ; 32-bit paging: the page directory
PT0       equ 0x201000                ; identity map of 0-4 MiB, user and writable
PT1       equ 0x202000                ; 0x400000-0x7fffff: the test pages, set by each case
PT2       equ 0x203000                ; 0x800000-0xbfffff: for PDE-level cases
PDPT      equ 0x204000                ; PAE: four PDPTEs
PAE_PD0   equ 0x205000                ; PAE: 0-1 GiB
PAE_PT0   equ 0x206000                ; PAE: identity map of 0-2 MiB
PAE_PT2   equ 0x207000                ; PAE: 0x400000-0x5fffff, the test pages
PAE_PD1   equ 0x208000                ; PAE: 1-2 GiB, named by a PDPTE only in one case
FRAME_A   equ 0x300000                ; test frames, reachable through the identity map too
FRAME_B   equ 0x301000
FRAME_C   equ 0x302000
TPAGE      equ 0x400000                ; the first test page
EFER      equ 0xc0000080

SEL_BASED equ $ - gdt                 ; data, base 0x3ff000: offset 0x1234 is linear 0x400234
    DESC 0x3ff000, 0xfffff, 0x93, 0xc
gdt_end:

; MAP linear, entry: the 32-bit PTE of a test page (0x400000-0x7fffff), and INVLPG.
%macro MAP 2
    mov dword [PT1 + ((((%1) >> 12) & 0x3ff) * 4)], %2
    invlpg [%1]
%endmacro
; PTE32 "name", linear: prints the 32-bit PTE of a test page.
%macro PTE32 2
    PHEX32 %1, [PT1 + ((((%2) >> 12) & 0x3ff) * 4)]
%endmacro
; MAPPAE linear, low, high: the PAE PTE of a test page (0x400000-0x5fffff), and INVLPG.
%macro MAPPAE 3
    mov dword [PAE_PT2 + ((((%1) >> 12) & 0x1ff) * 8)], %2
    mov dword [PAE_PT2 + ((((%1) >> 12) & 0x1ff) * 8) + 4], %3
    invlpg [%1]
%endmacro

; PCASE / PAECASE "name": a case that starts from fresh 32-bit / PAE page tables.
%macro PCASE 1
    call reset32
    CASE %1
%endmacro
%macro PAECASE 1
    call reset_pae
    CASE %1
%endmacro

main:
    PUTS "conformance: paging", 10
    ; Test frames with recognisable contents.
    mov dword [FRAME_A], 0xaaaa0000
    mov dword [FRAME_B], 0xbbbb0000
    mov dword [FRAME_C], 0xcccc0000

    ; ---- #PF error codes, 32-bit paging, 4 KiB pages
    PCASE "pf-read-not-present"
    mov eax, [TPAGE + 0x10]
    ENDCASE
    PCASE "pf-write-not-present"
    mov dword [TPAGE + 0x20], 1
    ENDCASE
    PCASE "pf-ring3-read-not-present"
    TO_RING3
    mov eax, [TPAGE]
    int 0x30
    ENDCASE
    PCASE "pf-ring3-write-not-present"
    TO_RING3
    mov [TPAGE + 0xffc], eax
    int 0x30
    ENDCASE
    PCASE "pf-ring3-read-supervisor-page"
    MAP TPAGE, FRAME_A | 3
    TO_RING3
    mov eax, [TPAGE]
    int 0x30
    ENDCASE
    PCASE "pf-ring3-write-read-only-page"
    MAP TPAGE, FRAME_A | 5
    TO_RING3
    mov eax, [TPAGE]
    mov [TPAGE], eax
    int 0x30
    ENDCASE
    PCASE "pf-ring3-read-read-only-page-ok"
    MAP TPAGE, FRAME_A | 5
    TO_RING3
    mov eax, [TPAGE]
    int 0x30
    PHEX32 "m", eax
    ENDCASE
    PCASE "wp0-ring0-writes-read-only-page"
    MAP TPAGE, FRAME_A | 1
    mov dword [TPAGE + 4], 0x12345678
    PHEX32 "m", [FRAME_A + 4]
    ENDCASE
    PCASE "pf-wp1-ring0-write-read-only-page"
    call set_wp
    MAP TPAGE, FRAME_A | 1
    mov dword [TPAGE + 8], 0x12345678
    ENDCASE
    PCASE "pf-wp1-ring0-write-read-only-user-page"
    call set_wp
    MAP TPAGE, FRAME_A | 5
    mov dword [TPAGE + 8], 0x12345678
    ENDCASE
    PCASE "wp1-ring0-writes-writable-user-page"
    call set_wp
    MAP TPAGE, FRAME_A | 7
    mov dword [TPAGE + 8], 0x87654321
    PHEX32 "m", [FRAME_A + 8]
    ENDCASE
    PCASE "pf-pde-not-present"
    mov eax, [0x800000 + 0x444]
    ENDCASE
    PCASE "pf-ring3-write-pde-read-only"
    mov dword [PD + 8], PT2 | 5
    mov dword [PT2], FRAME_A | 7
    TO_RING3
    mov [0x800000], eax
    int 0x30
    ENDCASE
    PCASE "pf-ring3-read-pde-supervisor"
    mov dword [PD + 8], PT2 | 3
    mov dword [PT2], FRAME_A | 7
    TO_RING3
    mov eax, [0x800000]
    int 0x30
    ENDCASE
    PCASE "pf-wp1-ring0-write-pde-read-only"
    call set_wp
    mov dword [PD + 8], PT2 | 5
    mov dword [PT2], FRAME_A | 7
    mov [0x800000], eax
    ENDCASE
    PCASE "pf-ring0-fetch-not-present"
    mov eax, TPAGE + 0x123
    jmp eax
    ENDCASE
    PCASE "pf-ring3-fetch-supervisor-page"
    mov dword [FRAME_A], 0x9031cd90     ; nop; int 0x31; nop
    MAP TPAGE, FRAME_A | 3
    TO_RING3
    mov eax, TPAGE
    jmp eax
    ENDCASE
    PCASE "ring3-fetch-user-page"
    MAP TPAGE, FRAME_A | 5
    TO_RING3
    mov eax, TPAGE
    jmp eax
    ENDCASE
    PCASE "pf-fetch-straddles-into-absent-page"
    mov byte [FRAME_A + 0xffd], 0xb8   ; mov eax, imm32: its immediate lies on the next page
    MAP TPAGE, FRAME_A | 3
    mov eax, TPAGE + 0xffd
    jmp eax
    ENDCASE
    PCASE "pf-read-straddles-into-absent-page"
    MAP TPAGE, FRAME_A | 3
    mov eax, [TPAGE + 0xffe]
    ENDCASE
    PCASE "pf-write-straddles-into-absent-page"
    mov dword [exc_hook], frame_a_tail
    MAP TPAGE, FRAME_A | 3
    mov dword [FRAME_A + 0xffc], 0x11111111
    mov dword [TPAGE + 0xffe], 0x22222222
    ENDCASE
    PCASE "pf-write-straddles-two-absent-pages"
    mov dword [TPAGE + 0xffe], 0x22222222
    ENDCASE
    PCASE "pf-rmw-straddles-into-absent-page"
    mov dword [exc_hook], frame_a_tail
    MAP TPAGE, FRAME_A | 3
    mov dword [FRAME_A + 0xffc], 0x11111111
    add dword [TPAGE + 0xffd], 1
    ENDCASE
    PCASE "pf-word-write-straddles-into-absent-page"
    MAP TPAGE, FRAME_A | 3
    mov word [TPAGE + 0xfff], 0x2222
    ENDCASE
    PCASE "pf-write-straddles-into-read-only-page"
    call set_wp
    MAP TPAGE, FRAME_A | 3
    MAP TPAGE + 0x1000, FRAME_B | 1
    mov dword [FRAME_A + 0xffc], 0x11111111
    mov dword [exc_hook], frame_a_tail
    mov word [TPAGE + 0xfff], 0x2222
    ENDCASE
    PCASE "pf-ring3-write-straddles-into-supervisor-page"
    MAP TPAGE, FRAME_A | 7
    MAP TPAGE + 0x1000, FRAME_B | 3
    TO_RING3
    mov dword [TPAGE + 0xffd], 0x22222222
    int 0x30
    ENDCASE
    PCASE "pf-rep-movsb-stops-at-absent-page"
    mov dword [exc_hook], string_regs
    MAP TPAGE, FRAME_A | 3
    mov esi, 0x7c00
    mov edi, TPAGE + 0xff0
    mov ecx, 0x40
    cld
    rep movsb
    ENDCASE
    PCASE "pf-rep-stosd-backwards"
    mov dword [exc_hook], string_regs
    MAP TPAGE + 0x1000, FRAME_B | 3
    mov edi, TPAGE + 0x1008
    mov ecx, 0x10
    mov eax, 0x55555555
    std
    rep stosd
    ENDCASE
    PCASE "pf-ring3-push-to-absent-stack"
    TO_RING3
    mov esp, TPAGE + 0x10
    push eax
    int 0x30
    ENDCASE
    PCASE "ring3-int-leaves-user-stack-page"
    MAP TPAGE, FRAME_A | 7
    TO_RING3
    mov esp, TPAGE + 0x100
    int 0x31
    ENDCASE
    PCASE "df-pf-with-pf-gate-not-present"
    and byte [IDT_BASE + 14 * 8 + 5], 0x7f
    mov eax, [TPAGE]
    ENDCASE
    call reset_idt
    PCASE "pf-cr2-holds-linear-not-offset"
    mov ax, SEL_BASED
    mov ds, ax
    mov eax, [0x1234]
    ENDCASE

    ; ---- accessed and dirty bits
    PCASE "ad-read-sets-accessed"
    MAP TPAGE, FRAME_A | 7
    and dword [PD + 4], ~0x60
    mov eax, [TPAGE]
    PTE32 "pte", TPAGE
    PHEX32 "pde", [PD + 4]
    ENDCASE
    PCASE "ad-write-sets-dirty"
    MAP TPAGE, FRAME_A | 7
    and dword [PD + 4], ~0x60
    mov dword [TPAGE + 0x10], 1
    PTE32 "pte", TPAGE
    PHEX32 "pde", [PD + 4]
    ENDCASE
    PCASE "ad-write-after-read-sets-dirty"
    MAP TPAGE, FRAME_A | 7
    mov eax, [TPAGE]
    PTE32 "pte", TPAGE
    mov [TPAGE], eax
    PTE32 "pte", TPAGE
    ENDCASE
    PCASE "ad-ring3-fetch-sets-accessed-only"
    MAP TPAGE, FRAME_A | 5
    mov byte [FRAME_A], 0xc3            ; ret
    TO_RING3
    mov eax, TPAGE
    call eax
    int 0x30
    PTE32 "pte", TPAGE
    ENDCASE
    PCASE "ad-locked-rmw-sets-dirty"
    MAP TPAGE, FRAME_A | 3
    lock inc dword [TPAGE + 0x20]
    PTE32 "pte", TPAGE
    ENDCASE
    PCASE "ad-software-clear-then-write-resets-dirty"
    MAP TPAGE, FRAME_A | 3
    mov dword [TPAGE], 5
    and dword [PT1], ~0x60
    invlpg [TPAGE]
    mov dword [TPAGE], 6
    PTE32 "pte", TPAGE
    ENDCASE
    PCASE "ad-stale-dirty-without-invlpg"
    MAP TPAGE, FRAME_A | 3
    mov dword [TPAGE], 5
    and dword [PT1], ~0x60
    mov eax, [TPAGE]
    PTE32 "pte", TPAGE
    ENDCASE

    ; ---- INVLPG, CR3 and global pages
    PCASE "invlpg-shows-new-mapping"
    MAP TPAGE, FRAME_A | 3
    mov eax, [TPAGE]
    PHEX32 "before", eax
    mov dword [PT1], FRAME_B | 3
    invlpg [TPAGE + 0x800]
    mov eax, [TPAGE]
    PHEX32 "after", eax
    ENDCASE
    PCASE "cr3-reload-shows-new-mapping"
    MAP TPAGE, FRAME_A | 3
    mov eax, [TPAGE]
    mov dword [PT1], FRAME_B | 3
    mov eax, cr3
    mov cr3, eax
    mov eax, [TPAGE]
    PHEX32 "after", eax
    ENDCASE
    PCASE "global-page-invlpg-shows-new-mapping"
    call set_pge
    MAP TPAGE, FRAME_A | 0x103
    mov eax, [TPAGE]
    mov dword [PT1], FRAME_B | 0x103
    invlpg [TPAGE]
    mov eax, [TPAGE]
    PHEX32 "after", eax
    ENDCASE
    PCASE "global-page-pge-toggle-shows-new-mapping"
    call set_pge
    MAP TPAGE, FRAME_A | 0x103
    mov eax, [TPAGE]
    mov dword [PT1], FRAME_B | 0x103
    mov eax, cr4
    and eax, ~0x80
    mov cr4, eax
    mov eax, [TPAGE]
    PHEX32 "after", eax
    ENDCASE
    PCASE "global-page-survives-cr3-reload"
    call set_pge
    MAP TPAGE, FRAME_A | 0x103
    mov eax, [TPAGE]
    mov dword [PT1], FRAME_B | 0x103
    mov eax, cr3
    mov cr3, eax
    mov eax, [TPAGE]
    PHEX32 "after", eax
    ENDCASE
    PCASE "invlpg-on-absent-page-is-harmless"
    invlpg [0xc0000000]
    ENDCASE

    ; ---- PSE: 4 MiB pages
    PCASE "pse-4m-page-read"
    mov dword [PD + 16], 0x00000083     ; 0x1000000: 4 MiB page at physical 0
    mov eax, [0x1000000 + FRAME_B]
    PHEX32 "m", eax
    PHEX32 "pde", [PD + 16]
    mov dword [0x1000000 + FRAME_B + 4], 7
    PHEX32 "pde", [PD + 16]
    ENDCASE
    PCASE "pse-4m-page-ring3-supervisor"
    mov dword [PD + 16], 0x00000083
    TO_RING3
    mov eax, [0x1000000]
    int 0x30
    ENDCASE
    PCASE "pse-4m-page-read-only-ring3-write"
    mov dword [PD + 16], 0x00000085
    TO_RING3
    mov eax, [0x1000000]
    mov [0x1000004], eax
    int 0x30
    ENDCASE
    PCASE "pse-off-ps-bit-names-a-page-table"
    ; With CR4.PSE clear the PS bit means nothing: the PDE names a page table at FRAME_C.
    mov dword [FRAME_C], FRAME_A | 3
    mov dword [PD + 16], FRAME_C | 0x83
    mov eax, cr4
    and eax, ~0x10
    mov cr4, eax
    mov eax, [0x1000000]
    PHEX32 "m", eax
    ENDCASE
    mov dword [FRAME_C], 0xcccc0000

    ; ---- PAE paging
    PAECASE "pae-read-4k-page"
    MAPPAE TPAGE, FRAME_A | 3, 0
    mov eax, [TPAGE]
    PHEX32 "m", eax
    PHEX32 "pte", [PAE_PT2]
    ENDCASE
    PAECASE "pf-pae-read-not-present"
    mov eax, [TPAGE + 0x2000]
    ENDCASE
    PAECASE "pf-pae-fetch-not-present-sets-id"
    mov eax, TPAGE + 0x3000
    jmp eax
    ENDCASE
    PAECASE "pf-pae-nx-fetch"
    mov dword [FRAME_A], 0x9031cd90
    MAPPAE TPAGE, FRAME_A | 3, 0x80000000
    mov eax, TPAGE
    jmp eax
    ENDCASE
    PAECASE "pae-nx-page-reads-and-writes"
    MAPPAE TPAGE, FRAME_A | 3, 0x80000000
    mov eax, [TPAGE]
    mov [TPAGE + 0x100], eax
    PHEX32 "m", eax
    ENDCASE
    PAECASE "pf-pae-ring3-nx-fetch"
    mov dword [FRAME_A], 0x9031cd90
    MAPPAE TPAGE, FRAME_A | 7, 0x80000000
    TO_RING3
    mov eax, TPAGE
    jmp eax
    ENDCASE
    PAECASE "pf-pae-ring3-fetch-supervisor"
    mov dword [FRAME_A], 0x9031cd90
    MAPPAE TPAGE, FRAME_A | 3, 0
    TO_RING3
    mov eax, TPAGE
    jmp eax
    ENDCASE
    PAECASE "pf-pae-nx-in-pde"
    mov dword [FRAME_A], 0x9031cd90
    MAPPAE TPAGE, FRAME_A | 3, 0
    mov dword [PAE_PD0 + 2 * 8 + 4], 0x80000000
    mov eax, cr3
    mov cr3, eax
    mov eax, TPAGE
    jmp eax
    ENDCASE
    PAECASE "pae-fetch-executable-page"
    mov dword [FRAME_A], 0x9031cd90
    MAPPAE TPAGE, FRAME_A | 3, 0
    mov eax, TPAGE
    jmp eax
    ENDCASE
    PAECASE "pf-pae-xd-without-nxe-is-reserved"
    call clear_nxe
    MAPPAE TPAGE, FRAME_A | 3, 0x80000000
    mov eax, [TPAGE]
    ENDCASE
    PAECASE "pf-pae-fetch-without-nxe-no-id"
    call clear_nxe
    mov eax, TPAGE + 0x5000
    jmp eax
    ENDCASE
    PAECASE "pf-pae-reserved-bit-51-read"
    MAPPAE TPAGE, FRAME_A | 3, 0x00080000
    mov eax, [TPAGE]
    ENDCASE
    PAECASE "pf-pae-reserved-bit-51-ring3-write"
    MAPPAE TPAGE, FRAME_A | 7, 0x00080000
    TO_RING3
    mov [TPAGE], eax
    int 0x30
    ENDCASE
    PAECASE "pf-pae-reserved-bit-in-pde"
    MAPPAE TPAGE, FRAME_A | 3, 0
    or dword [PAE_PD0 + 2 * 8 + 4], 0x00080000
    mov eax, cr3
    mov cr3, eax
    mov eax, [TPAGE]
    ENDCASE
    PAECASE "pf-pae-not-present-ignores-reserved-bits"
    MAPPAE TPAGE, FRAME_A | 2, 0x00080000
    mov eax, [TPAGE]
    ENDCASE
    PAECASE "pae-2m-page-read-write-dirty"
    mov dword [PAE_PD0 + 3 * 8], 0x00200083  ; 0x600000: a 2 MiB page at physical 0x200000
    mov dword [PAE_PD0 + 3 * 8 + 4], 0
    mov eax, cr3
    mov cr3, eax
    mov eax, [0x600000 + FRAME_B - 0x200000]
    PHEX32 "m", eax
    PHEX32 "pde", [PAE_PD0 + 3 * 8]
    mov [0x600000 + FRAME_B - 0x200000 + 8], eax
    PHEX32 "pde", [PAE_PD0 + 3 * 8]
    ENDCASE
    PAECASE "pf-pae-2m-page-reserved-bit-13"
    mov dword [PAE_PD0 + 3 * 8], 0x00002083
    mov dword [PAE_PD0 + 3 * 8 + 4], 0
    mov eax, cr3
    mov cr3, eax
    mov eax, [0x600000]
    ENDCASE
    PAECASE "pf-pae-2m-page-nx-fetch"
    mov dword [PAE_PD0 + 3 * 8], 0x00000083
    mov dword [PAE_PD0 + 3 * 8 + 4], 0x80000000
    mov eax, cr3
    mov cr3, eax
    mov eax, 0x600000 + 0x7c00
    jmp eax
    ENDCASE
    PAECASE "pf-pae-wp1-ring0-write-read-only"
    call set_wp
    MAPPAE TPAGE, FRAME_A | 1, 0
    mov [TPAGE], eax
    ENDCASE
    PAECASE "pae-ad-bits-in-pde-and-pte"
    MAPPAE TPAGE, FRAME_A | 3, 0
    and dword [PAE_PD0 + 2 * 8], ~0x60
    mov eax, cr3
    mov cr3, eax
    mov dword [TPAGE], 9
    PHEX32 "pde", [PAE_PD0 + 2 * 8]
    PHEX32 "pte", [PAE_PT2]
    ENDCASE
    PAECASE "pf-pae-pdpte-not-present"
    mov eax, [0x40001000]
    ENDCASE
    PAECASE "pae-pdpte-registers-load-on-cr3-write"
    ; A PDPTE made present in memory is used only once CR3 is written again.
    mov dword [PAE_PD1], 0x00200083     ; 1 GiB: a 2 MiB page at physical 0x200000
    mov dword [PAE_PD1 + 4], 0
    mov dword [PDPT + 8], PAE_PD1 | 1
    mov eax, [0x40000000 + FRAME_A - 0x200000]
    PHEX32 "m", eax
    ENDCASE
    PAECASE "pae-pdpte-present-after-cr3-write"
    mov dword [PAE_PD1], 0x00200083
    mov dword [PAE_PD1 + 4], 0
    mov dword [PDPT + 8], PAE_PD1 | 1
    mov eax, cr3
    mov cr3, eax
    mov eax, [0x40000000 + FRAME_A - 0x200000]
    PHEX32 "m", eax
    ENDCASE
    PAECASE "gp-pae-cr3-with-reserved-pdpte-bits"
    ; The unused fourth PDPTE (3-4 GiB) gets a reserved bit: loading CR3 must check it.
    mov dword [PDPT + 24], PAE_PD1 | 1 | 0x100
    mov eax, cr3
    mov cr3, eax
    ENDCASE
    call reset_pae
    PAECASE "pf-pae-cr2-and-id-on-ring3-nx"
    mov dword [FRAME_A + 0x800], 0x9031cd90
    MAPPAE TPAGE, FRAME_A | 7, 0x80000000
    TO_RING3
    mov eax, TPAGE + 0x800
    call eax
    int 0x30
    ENDCASE

    call paging_off
    jmp finish

; ---------------------------------------------------------------------------------------------

; A hook: the last doubleword of FRAME_A, which a faulting straddling write must leave alone.
frame_a_tail:
    PHEX32 "m", [FRAME_A + 0xffc]
    jmp recover

; A hook: the string registers at the fault.
string_regs:
    PHEX32 "ecx", [esp + 24]
    PHEX32 "esi", [esp + 4]
    PHEX32 "edi", [esp + 0]
    jmp recover

; reset32: paging off; fresh 32-bit page tables (identity 0-4 MiB, user and writable; the test
; pages absent); CR4.PSE; CR3; paging on with WP clear; EFER.NXE clear.
reset32:
    pushad
    call paging_off
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov edi, PT1
    mov ecx, 2048                     ; PT1 and PT2
    rep stosd
    mov edi, PT0
    mov eax, 7
    mov ecx, 1024
.id:
    stosd
    add eax, 0x1000
    loop .id
    mov dword [PD], PT0 | 7
    mov dword [PD + 4], PT1 | 7
    mov eax, 0x10
    mov cr4, eax
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    popad
    ret

; reset_pae: paging off; fresh PAE tables: 0-2 MiB identity (4 KiB pages, user, writable),
; 2-4 MiB identity (a 2 MiB page), 4-6 MiB the test pages (absent); CR4.PAE; EFER.NXE; on.
reset_pae:
    pushad
    call paging_off
    mov edi, PDPT
    xor eax, eax
    mov ecx, 0x5000 / 4               ; PDPT, PAE_PD0, PAE_PT0, PAE_PT2, PAE_PD1
    rep stosd
    mov dword [PDPT], PAE_PD0 | 1
    mov dword [PAE_PD0], PAE_PT0 | 7
    mov dword [PAE_PD0 + 8], 0x200000 | 0x87
    mov dword [PAE_PD0 + 16], PAE_PT2 | 7
    mov edi, PAE_PT0
    mov eax, 7
    mov ecx, 512
.id:
    mov [edi], eax
    add edi, 8
    add eax, 0x1000
    loop .id
    mov ecx, EFER
    rdmsr
    or eax, 0x800
    wrmsr
    mov eax, 0x20
    mov cr4, eax
    mov eax, PDPT
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    popad
    ret

paging_off:
    push eax
    push ecx
    push edx
    mov eax, cr0
    and eax, ~0x80010000              ; PG, WP
    mov cr0, eax
    xor eax, eax
    mov cr4, eax
    mov ecx, EFER
    rdmsr
    and eax, ~0x800
    wrmsr
    pop edx
    pop ecx
    pop eax
    ret

set_wp:
    push eax
    mov eax, cr0
    or eax, 0x10000
    mov cr0, eax
    pop eax
    ret

set_pge:
    push eax
    mov eax, cr4
    or eax, 0x80
    mov cr4, eax
    pop eax
    ret

clear_nxe:
    pushad
    mov ecx, EFER
    rdmsr
    and eax, ~0x800
    wrmsr
    popad
    ret
