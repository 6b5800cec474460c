"""Handles: values that stand for external state (a database, a service), upstream's
`redun.handle`.

A Handle is created with a name and constructor arguments, which give its first
hash. Passed to a task it is *forked* (a new state keyed by the order of the call
in the parent job, or by its own key), and returned by a task it *takes the call*
(its hash becomes that of the job's evaluation): so each state of the external
system has its own hash, and a cached result holding a handle is reused only
while that state is still valid. Running a job again from an earlier state rolls
back (invalidates) the states derived from it before. The scheduler records each
state as a Handle record (objects/records.py) and keeps validity in the index.

Subclass it, keeping the constructor's first argument the name:

    class DbHandle(Handle):
        def __init__(self, name, path, namespace=None):
            self.path = path
            self.instance = connect(path)   # attributes not set here are read from it

Pickling keeps the name, arguments, key and hash; unpickling calls __init__ again.
"""

from typing import Any, Optional

from .hashing import hash_struct, hash_value
from .namespace import compute_namespace
from .value import Value, get_run_context, get_type_registry


def get_handle_class(handle_class_name: str) -> type:
    return get_type_registry().parse_type_name(handle_class_name)


def get_fullname(namespace: Optional[str], name: str) -> str:
    return f"{namespace}.{name}" if namespace else name


class Handle(Value):
    """A value whose hash follows the calls it passes through (see the module docstring)."""

    type_name = "redun.Handle"

    class HandleInfo:
        """The identity of a handle state: fullname, constructor data, key, call hash, hash."""

        def __init__(self, name: str, args: tuple, kwargs: dict, class_name: str, namespace: Optional[str] = None,
                     call_hash: str = "", hash: Optional[str] = None, key: str = ""):
            self.name = name
            self.namespace = namespace
            self.fullname = get_fullname(namespace, name)
            self.args = args
            self.kwargs = kwargs
            self.class_name = class_name
            self.call_hash = call_hash
            self.key = key
            self.hash = hash or self.get_hash()
            self.is_recorded = False
            self.fork_parent: Optional["Handle"] = None

        def get_state(self) -> dict:
            return {"name": self.name, "namespace": self.namespace, "args": self.args, "kwargs": self.kwargs,
                    "class_name": self.class_name, "call_hash": self.call_hash, "key": self.key, "hash": self.hash}

        def get_hash(self) -> str:
            if self.call_hash:  # a state a task produced: identified by that call
                return hash_struct(["Handle", self.fullname, "call_hash", self.key, self.call_hash])
            return hash_struct(["Handle", self.fullname, "init", self.key,
                                [hash_value(a) for a in self.args],
                                {k: hash_value(v) for k, v in self.kwargs.items()}])

        def update_hash(self) -> None:
            self.hash = self.get_hash()

        def clone(self, handle: "Handle") -> "Handle":
            klass = get_handle_class(self.class_name)
            handle2 = klass.__new__(klass, self.name, *self.args, namespace=self.namespace, **self.kwargs)
            for key, value in handle.__dict__.items():
                if key != "__handle__":
                    handle2.__dict__[key] = value
            return handle2

        def apply_call(self, handle: "Handle", call_hash: str) -> "Handle":
            handle2 = self.clone(handle)
            info = handle2.__handle__
            info.call_hash, info.key = call_hash, ""
            info.update_hash()
            return handle2

        def fork(self, handle: "Handle", key: str) -> "Handle":
            handle2 = self.clone(handle)
            info = handle2.__handle__
            info.call_hash, info.key = handle.__handle__.hash, key  # the previous state is the "call"
            info.update_hash()
            info.fork_parent = handle
            return handle2

    def __new__(cls, name: Optional[str] = None, *args, namespace: Optional[str] = None, **kwargs):
        handle = super().__new__(cls)
        if name is not None:  # None while unpickling: __setstate__ sets the info
            handle.__dict__["__handle__"] = cls.HandleInfo(
                name=name, namespace=compute_namespace(cls, namespace), args=args, kwargs=kwargs,
                class_name=cls.type_name)
        return handle

    def __init__(self, name: Optional[str] = None, *args, namespace: Optional[str] = None, **kwargs):
        pass

    def __repr__(self) -> str:
        info = self.__handle__
        return f"{info.class_name}(fullname={info.fullname}, hash={(info.hash or '')[:8]})"

    def __getattr__(self, attr: str) -> Any:
        """Attributes a subclass did not set come from `self.instance`, if it has one."""
        if attr != "instance" and "instance" in self.__dict__:
            return getattr(self.__dict__["instance"], attr)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{attr}'")

    def __getstate__(self) -> dict:
        return self.__handle__.get_state()

    def __setstate__(self, state: dict) -> None:
        info = self.HandleInfo(**state)
        info.is_recorded = True
        self.__dict__["__handle__"] = info
        self.__init__(state["name"], *state["args"], **state["kwargs"])

    def apply_call(self, call_hash: str) -> "Handle":
        """This handle after passing through the call with call_hash."""
        return self.__handle__.apply_call(self, call_hash)

    def fork(self, key: str) -> "Handle":
        """A second handle for use in parallel tasks, told apart from this one by key."""
        return self.__handle__.fork(self, key)

    def is_valid(self) -> bool:
        """Whether this state is still current or an ancestor of the current one (not rolled back)."""
        if self.type_name != self.__handle__.class_name:
            return False  # the class was renamed since this state was recorded
        states = get_run_context()  # the running execution's HandleStates (engine/handles.py)
        if states is None:
            raise RuntimeError("Handle.is_valid() needs a running scheduler (it asks the repository).")
        return states.is_valid_handle(self)

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return self.__handle__.hash

    def preprocess(self, preprocess_args: dict) -> "Handle":
        """Fork as the handle passes into a task: keyed by its key, or by call order."""
        return self.fork(self.__handle__.key or str(preprocess_args["call_order"]))

    def postprocess(self, postprocess_args: dict) -> "Handle":
        """Take the call as the handle comes back from a task."""
        return self.apply_call(postprocess_args["pre_call_hash"])
