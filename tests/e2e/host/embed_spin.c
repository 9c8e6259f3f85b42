/* A program embedding CPython: Py_Initialize, then PyRun_SimpleString of a
 * function named by argv[1] that spins forever. Used by
 * tests/e2e/run_host.py to check that an embedder is profiled and dumped
 * under its own label with its own function. */
#include <stdio.h>
#include <string.h>

#include <Python.h>

static const char pyh_code[] =
	"import sys\n"
	"def %s():\n"
	"    x = 0\n"
	"    while True:\n"
	"        x += 1\n"
	"sys.stdout.write('ready\\n')\n"
	"sys.stdout.flush()\n"
	"%s()\n";

int main(int argc, char **argv)
{
	char code[1024];
	size_t n;

	if (argc != 2 || !argv[1][0] || strspn(argv[1], "abcdefghijklmnopqrstuvwxyz"
					      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
					      strlen(argv[1]) || strlen(argv[1]) > 100) {
		fputs("usage: embed_spin FUNCTION_NAME\n", stderr);
		return 2;
	}
	n = (size_t)snprintf(code, sizeof(code), pyh_code, argv[1], argv[1]);
	if (n >= sizeof(code))
		return 2;
	Py_Initialize();
	return PyRun_SimpleString(code) ? 1 : 0;
}
