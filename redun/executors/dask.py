"""DaskExecutor (`type = dask`): jobs run on a Dask cluster (dask.distributed).

Config (`[executors.NAME]`, type = dask):
  scheduler_address   tcp://HOST:PORT of a running Dask scheduler. Without it, a
                      local cluster of worker processes is started for each run
                      (on 127.0.0.1, no dashboard) and closed at its end.
  n_workers           workers of that local cluster (default 2)
  threads_per_worker  threads per worker of that local cluster (default 1)
  connect_timeout     seconds to wait for the scheduler (default 30)
  upload_modules      `true` (default): before the first job runs on the cluster,
                      the workflow scripts that define registered tasks (top-level
                      modules outside the Python installation, e.g. workflow.py)
                      are uploaded to the workers with Client.upload_file, so
                      `redun run workflow.py` (and a subrun of its tasks) works
                      without installing it there. Packages must be installed on
                      the workers.

A job becomes one Dask task, which imports the task's module on the worker and
calls it (redun.executors.remote_call); the result, or the exception with its
frames, comes back to this process, where the scheduler alone hashes and
records it: a job's records are the same wherever it ran. A worker that dies
while running a job is handled by Dask: the task is rerun on another worker,
up to `distributed.scheduler.allowed-failures` times (Dask's default 3), then
the job fails with Dask's KilledWorker error.

Needs the optional extra: `pip install 'redun[dask]'`.
"""

import os
import queue
import sys
import sysconfig
import threading

from ..errors import ConfigError
from .base import Executor, ExecutorError, register_executor, section_int, section_value
from .remote_call import CALL, SCRIPT, call_with_outcome, describe_call, frame_summaries

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError("The dask executor needs dask.distributed: pip install 'redun[dask]' "
                          "(or 'dask[distributed]').") from exc
    return distributed


@register_executor("dask")
class DaskExecutor(Executor):
    def __init__(self, name: str, scheduler=None, config=None):
        super().__init__(name, scheduler=scheduler)
        _import_distributed()  # fail at start-up, not at the first job
        self.scheduler_address = section_value(config, "scheduler_address")
        self.n_workers = section_int(config, "n_workers", 2, name)
        self.threads_per_worker = section_int(config, "threads_per_worker", 1, name)
        self.connect_timeout = section_int(config, "connect_timeout", 30, name)
        upload = str(section_value(config, "upload_modules", "true")).lower()
        if upload not in _TRUE | _FALSE:
            raise ConfigError(f"[executors.{name}] upload_modules must be true or false, not {upload!r}.")
        self.upload_modules = upload in _TRUE
        if self.scheduler_address is not None and "://" not in self.scheduler_address:
            raise ConfigError(f"[executors.{name}] scheduler_address must look like tcp://HOST:PORT, "
                              f"not {self.scheduler_address!r}.")
        self._client = None
        self._cluster = None
        self._uploaded: set = set()
        self._futures: dict = {}  # key -> Future: Dask forgets a task whose future is dropped
        self._finished = queue.SimpleQueue()  # (job, key, future) of finished Dask tasks, or None
        self._gatherer = None
        self._lock = threading.Lock()

    # -- connection ---------------------------------------------------------------------
    @property
    def client(self):
        """The dask.distributed Client (connected, or with its local cluster started, on first use)."""
        if self._client is None:
            distributed = _import_distributed()
            try:
                if self.scheduler_address:
                    self._client = distributed.Client(self.scheduler_address, timeout=self.connect_timeout,
                                                      set_as_default=False)
                else:
                    self._cluster = distributed.LocalCluster(
                        n_workers=self.n_workers, threads_per_worker=self.threads_per_worker, processes=True,
                        host="127.0.0.1", dashboard_address=None)
                    self._client = distributed.Client(self._cluster, set_as_default=False)
            except OSError as exc:
                where = self.scheduler_address or "a local cluster"
                raise ExecutorError(f"Executor '{self.name}' cannot reach the Dask scheduler at {where}: "
                                    f"{exc}") from exc
        return self._client

    def stop(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        self._uploaded = set()
        with self._lock:
            self._futures.clear()
            gatherer, self._gatherer = self._gatherer, None
            finished, self._finished = self._finished, queue.SimpleQueue()  # late callbacks of an aborted run
        if gatherer is not None:
            finished.put(None)
            gatherer.join()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    # -- jobs -----------------------------------------------------------------------------
    def submit(self, job) -> None:
        self._submit(job, CALL)

    def submit_script(self, job) -> None:
        self._submit(job, SCRIPT)

    def _submit(self, job, kind: str) -> None:
        call = describe_call(kind, job)
        try:
            client = self.client
            if self.upload_modules:
                if not self._uploaded:  # the scripts of every registered task (a subrun imports them)
                    from ..task import get_task_registry

                    for module_name in {t.load_module for t in get_task_registry() if t.func is not None}:
                        if module_name != "__main__":
                            self._upload(client, module_name)
                self._upload(client, call[1])
        except Exception as error:  # noqa: BLE001 - the job fails with the executor's error
            self._scheduler.reject_job(job, error)
            return
        key = f"redun-{job.task.fullname}-{job.id}"
        future = client.submit(call_with_outcome, *call, key=key, pure=False)
        with self._lock:
            self._futures[key] = future
            finished = self._finished
            if self._gatherer is None:
                self._gatherer = threading.Thread(target=self._gather, args=(client, finished), daemon=True,
                                                  name=f"redun-{self.name}-gather")
                self._gatherer.start()
        future.add_done_callback(lambda f: finished.put((job, key, f)))

    def _gather(self, client, finished) -> None:
        """Fetches the outcomes of finished Dask tasks in batches (one gather per batch, not one
        round trip per job) and hands them to the scheduler. Ends on None."""
        while True:
            batch = [finished.get()]
            while True:
                try:
                    batch.append(finished.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch
            batch = [item for item in batch if item is not None]
            done = [(job, key, f) for job, key, f in batch if f.status == "finished"]
            try:
                outcomes = client.gather([f for _, _, f in done]) if done else []
            except Exception:  # noqa: BLE001 - fetch them one by one to say which failed
                outcomes = None
            for i, (job, key, future) in enumerate(batch if outcomes is None else done):
                self._report(job, key, future, None if outcomes is None else outcomes[i])
            for job, key, future in batch:
                if outcomes is not None and future.status != "finished":
                    self._report(job, key, future, None)
            if stop:
                return

    def _report(self, job, key: str, future, outcome) -> None:
        """Hand one job's outcome to the scheduler and drop its future."""
        scheduler = self._scheduler
        with self._lock:
            self._futures.pop(key, None)
        try:
            if outcome is None:
                if future.status == "cancelled":
                    scheduler.reject_job(job, ExecutorError(f"Dask task {key} was cancelled."))
                    return
                error = future.exception()
                if error is not None:  # the task did not complete on the cluster (e.g. KilledWorker)
                    scheduler.reject_job(job, error)
                    return
                outcome = future.result()
            ok, value, frames = outcome
        except Exception as error:  # noqa: BLE001 - e.g. the result could not be deserialized here
            scheduler.reject_job(job, error)
            return
        if ok:
            scheduler.done_job(job, value)
        else:
            scheduler.reject_job(job, value, frame_summaries(frames))

    def _upload(self, client, module_name: str) -> None:
        """Send a workflow script's module to the workers once per connection (see upload_modules)."""
        if module_name in self._uploaded:
            return
        if module_name == "__main__":
            raise ExecutorError("Tasks defined in __main__ cannot run on a Dask cluster: define them in a "
                                "module (e.g. workflow.py run with `redun run workflow.py TASK`).")
        self._uploaded.add(module_name)
        path = _script_path(module_name)
        if path is not None:
            # load=False: workers import it by name when a job needs it. Loading it at once would
            # also import it into the scheduler of a local cluster, which is this process, and
            # replace the user's module (and its tasks) with the uploaded copy.
            client.upload_file(path, load=False)


def _script_path(module_name: str):
    """The file of a top-level module that lives outside the Python installation, else None."""
    if "." in module_name:
        return None
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py") or os.path.basename(path) == "__init__.py":
        return None
    path = os.path.realpath(path)
    installed = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sysconfig.get_paths()["purelib"],
                                              sysconfig.get_paths()["stdlib"])}
    if any(path.startswith(root + os.sep) for root in installed):
        return None
    return path
