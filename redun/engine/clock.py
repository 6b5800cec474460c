"""Times in records: integer microseconds since the Unix epoch, UTC."""

import time


def now_us() -> int:
    return time.time_ns() // 1000
