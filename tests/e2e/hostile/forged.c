/* Not Python: a C program that exports the symbols a Python would, filled with lies: a
 * version, a _PyRuntime whose interpreter list points at itself and into nowhere, a
 * PyCode_Type. It sleeps; a reader must say what it is in bounded time, and not crash. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((used)) const unsigned long Py_Version = 0x030c01f0; /* "3.12.1" */
__attribute__((used)) uint64_t _PyRuntime[4096];
__attribute__((used)) uint64_t PyCode_Type[64];
__attribute__((used)) uint64_t PyUnicode_Type[64];
__attribute__((used)) const char *Py_GetVersion(void) { return "3.12.1 (forged)"; }

int main(void)
{
	/* Every word of the runtime points back into it: lists that loop, nothing real. */
	for (size_t i = 0; i < sizeof(_PyRuntime) / sizeof(_PyRuntime[0]); i++)
		_PyRuntime[i] = (uint64_t)(uintptr_t)&_PyRuntime[(i * 7 + 3) % 4096];
	memcpy(_PyRuntime, "xdebugpy", 8);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
