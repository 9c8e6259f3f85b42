# -*- coding: utf-8 -*-
# min-python: 3.0
# run-from: non-ascii
# Functions, a class and a method with non-ASCII names, run from a non-ASCII path.
# @gil none
import time

from _e2e import ready


def ждать():
    ready()
    time.sleep(1000)  # @stack main 0


def 処理_ñ():
    ждать()  # @stack main 1


class Ünïcode:
    def método(self):
        処理_ñ()  # @stack main 2


Ünïcode().método()  # @stack main 3
