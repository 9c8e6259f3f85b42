# A parent waiting on a child process (`sleep 1000`) that never ends.
# @gil none
import os
import subprocess

from _e2e import ready


def wait_child(child):
    ready()
    return os.waitpid(child.pid, 0)  # @stack main 0 @syscall main wait4|waitid


def main():
    child = subprocess.Popen(["sleep", "1000"])
    wait_child(child)  # @stack main 1


main()  # @stack main 2
