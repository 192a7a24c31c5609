; A boot with a race between a timer interrupt and its initialisation: the sample guest of chaos
; mode (`afterglow chaos`). Loaded at 0x7c00 in real mode like a boot sector, it enters 32-bit
; protected mode, arms the RTC's periodic interrupt (IRQ8, 1024 Hz) and enables interrupts, and
; only then sets up what the interrupt handler uses: the selector of the timer's data segment.
; The bug: the handler is armed before its data. Most boots get through the setup before the
; first tick, count 16 ticks and halt ("race: ok"). But when the first tick comes during the
; setup, the handler loads the null selector, its access through ES raises #GP, and the IDT has
; no gate for it (only the RTC's): #GP, #NP, double fault, triple fault.
;
; When the first tick comes depends on where the RTC's divider stood at power-on, which real
; hardware leaves open and chaos runs perturb. The default machine's RTC starts at phase 0, where
; this boot passes.
;
; Build (guests/chaos/README.md):
;   nasm -f elf32 -o race.o race.asm
;   ld -m elf_i386 -Ttext=0x7c00 -e start -o race.elf race.o
;   objcopy -O binary race.elf race.bin

CODE_SEL  equ 0x08
DATA_SEL  equ 0x10
DEBUGCON  equ 0xe9
RTC_INDEX equ 0x70
RTC_DATA  equ 0x71
RTC_VECTOR equ 0x28                 ; the slave PIC's IR0 (IRQ8)
SETUP_LOOPS equ 30000               ; the setup's length, in iterations of its loop (about 90 µs)
TICKS_WANTED equ 16
TABLE     equ 0x20000               ; where setup fills its table

section .text

bits 16
global start
start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    lgdt [gdt_desc]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp CODE_SEL:pm_entry

bits 32
pm_entry:
    mov ax, DATA_SEL
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov esi, banner
    call puts
    call idt_init
    call pic_init
    call rtc_arm
    sti                             ; the tick may come from here on...
    call setup                      ; ...but the handler's data is not ready until setup is done
wait_ticks:
    hlt
    cmp dword [ticks], TICKS_WANTED
    jb wait_ticks
    cli
    mov esi, done
    call puts
    hlt

; The timer's data: a segment whose selector the handler loads. Setting it up takes a while
; (a table to fill), and the selector is stored last.
global setup
setup:
    mov ecx, SETUP_LOOPS
    mov edi, TABLE
.fill:
    mov [edi], ecx
    add edi, 4
    loop .fill
    mov word [timer_sel], DATA_SEL
    ret

; IRQ8: count a tick in the timer's segment, acknowledge the RTC and both PICs.
global rtc_irq
rtc_irq:
    push eax
    push es
    mov ax, [timer_sel]
    mov es, ax
    inc dword [es:ticks]            ; #GP while timer_sel is still the null selector
    mov al, 0x0c
    out RTC_INDEX, al
    in al, RTC_DATA                 ; reading register C ends the interrupt
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    pop es
    pop eax
    iret

; The IDT: gates up to the RTC's vector, only the RTC's present (a 32-bit interrupt gate).
idt_init:
    mov eax, rtc_irq
    mov edi, idt + 8 * RTC_VECTOR
    mov [edi], ax
    mov word [edi + 2], CODE_SEL
    mov word [edi + 4], 0x8e00
    shr eax, 16
    mov [edi + 6], ax
    lidt [idt_desc]
    ret

; The 8259A pair: master at 0x20, slave at 0x28, cascade on IR2; only IRQ2 and IRQ8 unmasked.
pic_init:
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, RTC_VECTOR
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xfb
    out 0x21, al
    mov al, 0xfe
    out 0xa1, al
    ret

; The RTC's periodic interrupt at 1024 Hz (rate 6): clear pending flags, then set PIE.
rtc_arm:
    mov al, 0x0a
    out RTC_INDEX, al
    mov al, 0x26
    out RTC_DATA, al
    mov al, 0x0c
    out RTC_INDEX, al
    in al, RTC_DATA
    mov al, 0x0b
    out RTC_INDEX, al
    mov al, 0x42                    ; PIE, 24-hour
    out RTC_DATA, al
    ret

puts:
    lodsb
    test al, al
    jz .end
    out DEBUGCON, al
    jmp puts
.end:
    ret

banner: db "race: boot", 10, 0
done:   db "race: ok", 10, 0

align 4
global timer_sel
timer_sel: dw 0
align 4
global ticks
ticks: dd 0

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff           ; 0x08: code, base 0, 4 GiB, 32-bit
    dq 0x00cf92000000ffff           ; 0x10: data, base 0, 4 GiB
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt

align 8
idt:
    times RTC_VECTOR + 1 dq 0
idt_desc:
    dw idt_desc - idt - 1
    dd idt
