"""Executors: where a job's task function runs (upstream's `redun.executors`).

    base.py    Executor (the interface), register_executor, get_executor_class,
               executors built from [executors.NAME] config sections
    local.py   LocalExecutor: threads in this process (`mode = thread`)
"""
