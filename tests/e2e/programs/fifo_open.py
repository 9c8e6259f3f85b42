# open() of a FIFO that has no writer blocks in the kernel.
# @gil none
import os

from _e2e import ready, scratch_dir


def open_fifo(path):
    ready()
    return open(path)  # @stack main 0 @syscall main openat|open


def main():
    path = os.path.join(scratch_dir(), "no-writer.fifo")
    os.mkfifo(path)
    open_fifo(path)  # @stack main 1


main()  # @stack main 2
