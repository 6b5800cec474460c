"""`paused_gc()`: the cyclic garbage collector paused while an import runs.

An import builds many container objects that live until its end (the parsed lines, the
key -> object id map, the index rows) and none that form cycles. While they accumulate,
the collector walks all of them again at each of its full passes and finds nothing to
free. Reference counting still frees everything as usual; the collector is switched back
on afterwards (if it was on), so any cycle made meanwhile is collected by its next pass. It is process-wide: other threads of an embedding program go
without cycle collection for the duration too.
"""

import gc
from contextlib import contextmanager


@contextmanager
def paused_gc():
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
