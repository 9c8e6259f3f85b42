/* Line numbers from a code object's line table, for every format CPython used. */
#ifndef PYH_PYTHON_LINETABLE_H
#define PYH_PYTHON_LINETABLE_H
#include <stddef.h>
#include <stdint.h>
#include "pyhang/layout.h"

/* The source line of the instruction at byte offset `offset` into the code
 * (co_code, or co_code_adaptive on 3.11+), from table (len bytes) in format kind.
 * Returns the line (>= 0), or -1 when the table says the instruction has no line,
 * the offset is past the table, or the table is malformed. Never reads past len.
 * The lnotab formats (2.7 - 3.9) have no end marker: offsets past the last entry
 * keep the last line, as CPython's own PyCode_Addr2Line does. A line that would
 * be negative or not fit an int is reported as -1. */
int pyh_linetable_line(enum pyh_linetable_kind kind, const uint8_t *table, size_t len,
		       int firstlineno, uint32_t offset);
#endif
