"""Values processed around task calls, and the Handle states this creates.

Upstream's values may change as they pass a task boundary: `Value.preprocess`
before a task receives an argument, `Value.postprocess` when a task returns a
value. Handles (redun/handle.py) use both: an argument handle forks (a new state
per call under the parent job), a returned one takes the call's hash. Each
derivation is recorded as a Handle record naming its parent states; a job that
runs again (not cached) from a handle state invalidates the states derived from
that state before (a HandleRollback record), and a cached result holding an
invalidated state is not reused. The engine only walks arguments and results
while some class overrides preprocess / postprocess (value.PREPROCESS_TYPES,
POSTPROCESS_TYPES), so workflows without such values pay nothing.
"""

from ..objects.records import Handle as HandleRecord
from ..objects.records import HandleRollback
from ..promise import Promise
from ..task import scheduler_task
from ..utils import iter_nested_value, map_nested_value
from ..value import get_type_registry
from .clock import now_us


def _is_handle(value) -> bool:
    return "__handle__" in getattr(value, "__dict__", ())


class HandleStates:
    """One execution's handle states: what it recorded (kept here as well, the index sees
    them only when the run ends) and what the repository's index knows."""

    def __init__(self, rec):
        self.rec = rec
        self.known: dict = {}  # handle hash -> fullname, recorded by this run
        self.children: dict = {}  # parent hash -> child hashes, recorded by this run
        self.invalid: set = set()  # hashes this run rolled back

    # -- validity ---------------------------------------------------------------
    def is_valid_handle(self, handle) -> bool:
        h = handle.__handle__.hash
        if h in self.invalid:
            return False
        if h in self.known:
            return True
        query = getattr(self.rec.index, "handle_state", None)
        state = query(bytes.fromhex(h)) if query is not None else None
        return bool(state)

    # -- recording ----------------------------------------------------------------
    def advance(self, parents: list, child) -> None:
        """Record child as derived from parents (and any unrecorded fork ancestors first)."""
        pending = [p.__handle__.fork_parent for p in parents
                   if p.__handle__.fork_parent is not None and not p.__handle__.is_recorded]
        while pending:
            h = pending.pop()
            self._record(h, ())
            if h.__handle__.fork_parent is not None and not h.__handle__.fork_parent.__handle__.is_recorded:
                pending.append(h.__handle__.fork_parent)
        for p in parents:
            if not p.__handle__.is_recorded:
                self._record(p, ())
        self._record(child, parents)

    def _record(self, handle, parents) -> None:
        info = handle.__handle__
        info.is_recorded = True
        parent_hashes = tuple(p.__handle__.hash for p in parents)
        self.known[info.hash] = info.fullname
        for ph in parent_hashes:
            self.children.setdefault(ph, set()).add(info.hash)
        rec = self.rec
        if not rec.record:
            return
        from ..hashing import hash_value

        value_oid = rec.value_oid(handle, hash_value(handle))
        rec.state_records.append(rec.put(HandleRecord(
            bytes.fromhex(info.hash), info.fullname, info.key, value_oid,
            tuple(bytes.fromhex(h) for h in parent_hashes))))

    def rollback(self, handle) -> None:
        """The states derived from this one before are no longer valid."""
        info = handle.__handle__
        edges: dict = {}
        query = getattr(self.rec.index, "handle_edges", None)
        if query is not None:
            for parent, child in query(info.fullname):
                edges.setdefault(parent.hex(), set()).add(child.hex())
        for parent, kids in self.children.items():
            if self.known.get(parent) == info.fullname or parent == info.hash:
                edges.setdefault(parent, set()).update(kids)
        invalid: set = set()
        queue = list(edges.get(info.hash, ()))
        while queue:
            h = queue.pop()
            if h in invalid or h in self.invalid:
                continue
            invalid.add(h)
            queue.extend(edges.get(h, ()))
        if not invalid:
            return
        self.invalid |= invalid
        rec = self.rec
        if rec.record:
            rec.state_records.append(rec.put(HandleRollback(
                bytes.fromhex(info.hash), now_us(), tuple(sorted(bytes.fromhex(h) for h in invalid)))))


class ValueProcessing:
    """preprocess / postprocess of a call's values (lifecycle calls these only while
    value.PREPROCESS_TYPES / POSTPROCESS_TYPES are not empty)."""

    def __init__(self, states: HandleStates, dryrun: bool):
        self.states = states
        self.dryrun = dryrun
        self.registry = get_type_registry()

    def preprocess(self, job, args: tuple, kwargs: dict) -> tuple:
        registry, parent = self.registry, job.parent_job

        def one(value):
            if _is_handle(value):
                forks = parent.handle_forks if parent is not None else None
                if parent is not None:
                    if forks is None:
                        forks = parent.handle_forks = {}
                    h = value.get_hash()
                    forks[h] = call_order = forks.get(h, 0) + 1
                else:
                    call_order = 0
                forked = registry.preprocess(value, {"call_order": call_order})
                self.states.advance([value], forked)
                return forked
            return registry.preprocess(value, {})

        return map_nested_value(one, (args, kwargs))

    def postprocess(self, job, result):
        registry = self.registry
        args = {"pre_call_hash": job.eval_hash}

        def one(value):
            processed = registry.postprocess(value, args)
            if _is_handle(value) and not self.dryrun:
                self.states.advance([value], processed)
            return processed

        return map_nested_value(one, result)

    def rollback(self, args: tuple, kwargs: dict) -> None:
        for value in iter_nested_value((args, kwargs)):
            if _is_handle(value):
                self.states.rollback(value)


@scheduler_task(namespace="redun")
def merge_handles(scheduler, parent_job, sexpr, handles_expr) -> Promise:
    """One handle state following several states of the same handle (the first, recorded
    as derived from the others)."""

    def then(handles):
        if not handles or len({h.__handle__.name for h in handles}) != 1:
            raise ValueError("merge_handles() needs one or more states of the same handle.")
        scheduler.handle_states().advance(list(handles[1:]), handles[0])
        return handles[0]

    return scheduler.evaluate(handles_expr, parent_job=parent_job).then(then)
