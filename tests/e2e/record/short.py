# Burns CPU for SECONDS (argv[1]) in work(), then exits: a target that ends mid-recording.
import sys
import time


def work(seconds):
    end = time.time() + seconds
    x = 0
    while time.time() < end:
        x += 1


work(float(sys.argv[1]))
