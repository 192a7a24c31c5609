; An exit-heavy guest for the benchmark: after the shared protected-mode start it writes a line
; to COM1 over and over, polling the 16550A's line status before each byte, as a console driver
; without interrupts does. Every IN and OUT is a VM exit under the stack (the VMM emulates the
; UART), so `npm run bench` times the exit path with it. Never ends.
; Build: nasm -f bin -o serial.bin serial.asm

%include "pm32.inc"

COM1 equ 0x3f8

pm_main:
    mov esi, line
.byte:
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20                     ; THR empty
    jz .wait
    mov dx, COM1
    lodsb
    out dx, al
    cmp al, 10
    jne .byte
    jmp pm_main

banner16: db "afterglow: serial loop", 10, 0
line: db "afterglow exits the VM on every byte of this line", 10
