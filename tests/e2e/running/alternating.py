# Alternates between running deep calls for a few milliseconds and sleeping
# deep in calls for a few milliseconds: a dump finds it in either state.
import json
import sys
import time

CALLS = {
    "main": ["<module>"],
    "work": ["main", "work"],
    "rest": ["main", "rest"],
    "spin": ["work"],
    "nap": ["rest"],
}


def spin():
    t = time.time() + 0.004
    while time.time() < t:
        pass


def nap():
    time.sleep(0.004)


def work(n):
    if n == 0:
        return spin()
    return work(n - 1)


def rest(n):
    if n == 0:
        return nap()
    return rest(n - 1)


def main():
    while True:
        work(15)
        rest(15)


sys.stdout.write("READY " + json.dumps(CALLS) + "\n")
sys.stdout.flush()
main()
