"""Worker processes for the local executor's process mode.

Each worker process has a feeder thread in the scheduler's process that owns its
pipe: it takes the next job from the shared queue, sends the call (module, task
fullname, pickled arguments), waits for the outcome and puts it on the
scheduler's event queue. Processes are started as jobs arrive, up to
max_workers, with the configured start method, and live until the executor
stops.

Because a feeder knows which job its worker is running, a worker that dies
(killed, segfault, os._exit) fails exactly that job, with an error naming the
process, its exit code or signal, and the task; the feeder then starts a new
worker for the jobs that follow. Jobs queued or running in other workers are
not affected (unlike concurrent.futures.ProcessPoolExecutor, whose pool breaks
and fails every pending job).
"""

import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading

from .remote_call import dump_outcome, frame_summaries, run_call


_START_LOCK = threading.Lock()  # shared by every pool of this process


class WorkerProcessDied(Exception):
    """The worker process running a job ended before it reported the job's outcome."""


def worker_main(conn, sys_path: list, cwd: str) -> None:
    """The loop of a worker process: one call at a time until an empty message or EOF."""
    for entry in reversed(sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        os.chdir(cwd)
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the scheduler's to handle
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:
            return
        kind, module_name, fullname, args, kwargs = pickle.loads(message)
        outcome = dump_outcome(run_call(kind, module_name, fullname, args, kwargs))
        try:
            conn.send_bytes(outcome)
        except (BrokenPipeError, OSError):
            return


class ProcessWorkers:
    """Up to max_workers worker processes; outcomes go to `events` as (job, ok, value, frames)."""

    def __init__(self, max_workers: int, start_method: str, events, name: str = "process"):
        self.max = max(1, max_workers)
        self.context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # The fork server imports the worker's modules and the main script once (as each
            # worker would: `__mp_main__`); workers forked from it then start without importing
            # them again. Only takes effect before the server starts.
            self.context.set_forkserver_preload(["__main__", __name__])
        self.events = events
        self.name = name
        self.inq = queue.SimpleQueue()
        self.feeders: list = []
        self.idle = 0
        self.queued = 0
        self.lock = threading.Lock()
        self.procs: dict = {}  # pid -> live worker process
        self.stopping = False

    def submit(self, job, call: tuple) -> None:
        """call = (kind, module, fullname, args, kwargs), see remote_call.run_call."""
        with self.lock:
            self.queued += 1
            spawn = self.queued > self.idle and len(self.feeders) < self.max
        self.inq.put((job, call))
        if spawn:
            t = threading.Thread(target=self._feed, name=f"redun-{self.name}-feeder", daemon=True)
            self.feeders.append(t)
            t.start()

    def _start_process(self):
        # One start at a time: with the fork method a child started by another feeder in between
        # would inherit this worker's end of the pipe, and the worker's death would never show
        # as EOF here.
        with _START_LOCK:
            parent_conn, child_conn = self.context.Pipe()
            proc = self.context.Process(target=worker_main, args=(child_conn, list(sys.path), os.getcwd()),
                                        name=f"redun-{self.name}-worker")
            proc.start()
            child_conn.close()
        with self.lock:
            self.procs[proc.pid] = proc
        return proc, parent_conn

    @property
    def pids(self) -> list:
        """The pids of the live worker processes."""
        with self.lock:
            return list(self.procs)

    def _feed(self) -> None:
        proc = conn = None
        events = self.events
        try:
            while True:
                with self.lock:
                    self.idle += 1
                item = self.inq.get()
                with self.lock:
                    self.idle -= 1
                    if item is not None:
                        self.queued -= 1
                if item is None:
                    return
                job, call = item
                if self.stopping:  # the run was aborted: nobody waits for this job any more
                    continue
                try:
                    message = pickle.dumps(call, pickle.HIGHEST_PROTOCOL)
                except Exception as exc:  # noqa: BLE001 - arguments that cannot go to another process
                    events.put((job, False, TypeError(
                        f"The arguments of {call[2]} cannot be sent to a worker process (they must pickle): "
                        f"{type(exc).__name__}: {exc}"), []))
                    continue
                if proc is None:
                    try:
                        proc, conn = self._start_process()
                    except Exception as exc:  # noqa: BLE001 - e.g. spawn refusing to start from a half-imported __main__
                        events.put((job, False, WorkerProcessDied(
                            f"Could not start a worker process of executor '{self.name}' "
                            f"(start_method {self.context.get_start_method()}) for task {call[2]}: "
                            f"{type(exc).__name__}: {str(exc).strip()}"), []))
                        continue
                try:
                    conn.send_bytes(message)
                    # poll returns as soon as the reply is there; every second without one, check
                    # the worker is still alive (its pipe may be held open by another process).
                    while not conn.poll(1.0):
                        if not proc.is_alive():
                            raise EOFError
                    reply = conn.recv_bytes()
                except (EOFError, OSError):
                    if not self.stopping:
                        events.put((job, False, self._died(proc, call[2]), []))
                    self._discard(proc, conn)
                    proc = conn = None
                    continue
                try:
                    ok, value, frames = pickle.loads(reply)
                except Exception as exc:  # noqa: BLE001 - e.g. a result class missing here
                    events.put((job, False, exc, []))
                    continue
                if not self.stopping:
                    events.put((job, ok, value, frame_summaries(frames) if not ok else None))
        finally:
            if proc is not None:
                self._close(proc, conn)

    def _died(self, proc, fullname: str) -> WorkerProcessDied:
        if proc is None:
            return WorkerProcessDied(f"Could not start a worker process for task {fullname}.")
        proc.join(5)
        code = proc.exitcode
        if code is None:
            how = "stopped answering"
        elif code < 0:
            try:
                how = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        return WorkerProcessDied(f"Worker process {proc.pid} of executor '{self.name}' {how} while running "
                                 f"task {fullname}; the job fails (its result was never reported).")

    def _discard(self, proc, conn) -> None:
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            with self.lock:
                self.procs.pop(proc.pid, None)

    def _close(self, proc, conn) -> None:
        try:
            conn.send_bytes(b"")
        except OSError:
            pass
        proc.join(10)
        self._discard(proc, conn)

    def stop(self) -> None:
        """End every worker and wait for the feeders. Idle workers exit when asked; if jobs are
        still running (the run was aborted, e.g. Ctrl+C), their processes are killed."""
        feeders, self.feeders = self.feeders, []
        with self.lock:
            busy = self.queued or len(feeders) > self.idle
        if busy:
            self.stopping = True
            with self.lock:
                procs = list(self.procs.values())
            for proc in procs:
                proc.kill()
        for _ in feeders:
            self.inq.put(None)
        for t in feeders:
            t.join()
