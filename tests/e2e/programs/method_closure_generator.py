# One stack holding a generator frame, a closure, a method and a lambda.
# @gil none
import time

from _e2e import ready


class Pipeline(object):
    def __init__(self, n):
        self.n = n

    def items(self):
        ready()
        time.sleep(1000)  # @stack main 0
        yield self.n

    def run(self):
        def consume():
            for item in self.items():  # @stack main 1
                pass
        consume()  # @stack main 2


begin = lambda: Pipeline(3).run()  # @stack main 3
begin()  # @stack main 4
