/* Line numbers from a code object's line table, for every format CPython used. */
#ifndef PYH_PYTHON_LINETABLE_H
#define PYH_PYTHON_LINETABLE_H
#include <stddef.h>
#include <stdint.h>
#include "pyhang/layout.h"

/* The source line of the instruction at byte offset `offset` into the code
 * (co_code, or co_code_adaptive on 3.11+), from table (len bytes) in format kind.
 * Returns the line (>= 0), or -1 when the table says the instruction has no line,
 * the offset is past the table, or the table is malformed. Never reads past len. */
int pyh_linetable_line(enum pyh_linetable_kind kind, const uint8_t *table, size_t len,
		       int firstlineno, uint32_t offset);
#endif
