/* A program that links libpython but never starts an interpreter: it prints
 * "ready" and sleeps. Used by tests/e2e/run_host.py: pyhang must say it is
 * not (yet) Python, in one line, and never attribute anything to it. */
#include <stdio.h>
#include <unistd.h>

#include <Python.h>

/* Keeps libpython a real dependency without calling into it. */
const char *(*volatile pyh_keep_libpython)(void) = Py_GetVersion;

int main(void)
{
	fputs("ready\n", stdout);
	fflush(stdout);
	for (int i = 0; i < 600; i++)
		sleep(1);
	return pyh_keep_libpython ? 0 : 1;
}
