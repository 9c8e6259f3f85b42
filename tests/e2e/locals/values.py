# A stuck program whose frames hold known values: pyhang dump --locals must print each one's
# type and repr exactly as this interpreter does (run_locals.py compares with EXPECT).
# Frame 0 is inner (a free variable), frame 1 outer (every kind of value, a cell variable).
import sys
import time

from _report import ready, report


class Point(object):
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Plain:                      # a classic class on 2.7
    pass


def outer(small, big=2 ** 100):
    negative = -(2 ** 70)
    tenth = 0.1
    floats = (1e16, 1e-05, -0.0, float("inf"), 2.5e-300)
    ascii = "hello, world"
    quotes = "it's"
    text = u"h\xe9llo w\xf6rld \u4e2d\u6587 \U0001f600 \t\n\x00"
    raw = b"\x00\xff\n'\"\\bytes"
    nothing = None
    yes = True
    small_list = [1, "two", 3.0, None]
    small_tuple = (1,)
    pair = ("a", 2)
    small_dict = {"one": 1, "two": [2]}
    small_set = set([7])
    frozen = frozenset()
    point = Point(3, "four")
    plain = Plain()
    selfish = [1, 2]
    selfish.append(selfish)
    a_module = time               # no repr pyhang writes as Python: <module object at 0x...>
    captured = "a cell variable"

    def inner():
        seen = captured
        report(sys._getframe(), sys._getframe(1))
        ready()
        time.sleep(1000)
        return seen
    inner()


outer(7)
