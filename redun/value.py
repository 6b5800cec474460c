"""Values: how redun hashes, validates, serializes and pre/post-processes what tasks
take and return (upstream's `redun.value`).

`Value` is the base class of values with their own behaviour (File, Task,
expressions, users' classes); each subclass registers itself with the type
registry under its `type_name` when defined. `ProxyValue` subclasses attach that
behaviour to a plain Python type they do not own (`type = SomeClass`): the
registry dispatches every value of that type (or a subclass) to the proxy.

The scheduler's hot path never goes through the registry for plain values:
`redun.hashing.hash_value` only consults the proxies users registered
(`hashing.PROXY_HASHERS`), and the built-in proxies (valuetypes.py) describe
what it already does (sets, functions) or only add argument parsing.
"""

import builtins
import importlib
import threading
from typing import Any, Callable, Iterator, Optional

from . import hashing
from .hashing import hash_tag_bytes, pickle_dumps
from .utils import iter_nested_value, pickle_loads

MIME_TYPE_PICKLE = "application/python-pickle"
NoneType = type(None)


class TypeError(builtins.TypeError):  # noqa: A001 - upstream's name (redun.value.TypeError)
    """A type name that cannot be resolved."""


class InvalidValueError(Exception):
    """A cached value that cannot be used any more (e.g. its backing file is gone)."""


# Plain types whose validity a user's ProxyValue decides: type -> check (see
# expression.is_valid_value; empty unless a workflow defines such a proxy).
PROXY_VALIDATORS: dict = {}
_VALIDATOR_LOOKUP: dict = {}


def proxy_validator(t: type) -> Optional[Callable]:
    try:
        return _VALIDATOR_LOOKUP[t]
    except KeyError:
        pass
    check = next((PROXY_VALIDATORS[s] for s in getattr(t, "__mro__", (t,)) if s in PROXY_VALIDATORS), None)
    _VALIDATOR_LOOKUP[t] = check
    return check


_run_local = threading.local()


def set_run_context(context) -> None:
    """What values may ask the execution running on this thread (the scheduler sets it; a
    Handle asks it whether its state is still valid). None outside a run."""
    _run_local.context = context


def get_run_context():
    return getattr(_run_local, "context", None)


def get_raw_type_name(raw_type: Any) -> str:
    return f"{raw_type.__module__}.{raw_type.__name__}"


class TypeRegistry:
    """type_name -> Value class, and plain type -> ProxyValue class; dispatch of value methods."""

    def __init__(self) -> None:
        self._type_name2value_type: dict = {}
        self._raw2proxy_type: dict = {}

    def register(self, value_type: type) -> None:
        if getattr(value_type, "__args__", None):
            return  # a parameterized generic alias, not a class of its own
        raw_type = getattr(value_type, "type", None) if getattr(value_type, "proxy", False) else None
        if raw_type is not None:
            self._raw2proxy_type[raw_type] = value_type
            # hashing.hash_value already hashes what this module's proxies describe
            if value_type.__module__ != __name__ and _overrides(value_type, "get_hash"):
                hashing.register_proxy(raw_type, lambda obj, cls=value_type: cls(obj).get_hash())
            if _overrides(value_type, "is_valid"):
                PROXY_VALIDATORS[raw_type] = lambda obj, cls=value_type: cls(obj).is_valid()
                _VALIDATOR_LOOKUP.clear()
        self._type_name2value_type[value_type.type_name] = value_type
        _SERIALIZERS.clear()

    def _get_proxy_type(self, raw_type: type) -> Optional[type]:
        proxies = self._raw2proxy_type
        hit = proxies.get(raw_type)
        if hit is not None:
            return hit
        for sup in getattr(raw_type, "__mro__", ())[1:]:
            hit = proxies.get(sup)
            if hit is not None:
                proxies[raw_type] = hit
                return hit
        return None

    def get_type_name(self, raw_type: type) -> str:
        value_type = self.get_type(raw_type, use_default=False)
        if value_type is not None:
            return value_type.type_name
        return get_raw_type_name(raw_type)

    def parse_type_name(self, type_name: str) -> type:
        if type_name == "builtins.NoneType":
            return NoneType
        value_type = self._type_name2value_type.get(type_name)
        if value_type is not None:
            return value_type
        try:
            module_name, name = type_name.rsplit(".", 1)
            return importlib.import_module(module_name).__dict__[name]
        except (ValueError, ImportError, KeyError):
            raise TypeError(f'Unable to import type "{type_name}"') from None

    def get_type(self, raw_type: type, use_default: bool = True) -> Optional[type]:
        proxy = self._get_proxy_type(raw_type)
        if proxy is not None:
            return proxy
        if isinstance(raw_type, type) and issubclass(raw_type, Value):
            return raw_type
        return ProxyValue if use_default else None

    def get_value(self, raw_value: Any) -> "Value":
        proxy = self._get_proxy_type(type(raw_value))
        if proxy is not None:
            return proxy(raw_value)
        if isinstance(raw_value, Value):
            return raw_value
        return ProxyValue(raw_value)

    def is_valid(self, value: Any) -> bool:
        return self.get_value(value).is_valid()

    def is_valid_nested(self, nested_value: Any) -> bool:
        return all(map(self.is_valid, iter_nested_value(nested_value)))

    def get_hash(self, value: Any, data: Optional[bytes] = None) -> str:
        return self.get_value(value).get_hash()

    def get_serialization_format(self, value: Any) -> str:
        return self.get_value(value).get_serialization_format()

    def serialize(self, value: Any) -> bytes:
        return self.get_value(value).serialize()

    def deserialize(self, type_name: str, data: bytes) -> Any:
        try:
            raw_type = self.parse_type_name(type_name)
        except TypeError:
            raw_type, value_type = ProxyValue, ProxyValue
        else:
            value_type = self.get_type(raw_type)
        try:
            return value_type.deserialize(raw_type, data)
        except ModuleNotFoundError as error:
            raise InvalidValueError(f"Error parsing value: {error}") from None

    def preprocess(self, raw_value: Any, preprocess_args: dict) -> Any:
        return self.get_value(raw_value).preprocess(preprocess_args)

    def postprocess(self, raw_value: Any, postprocess_args: dict) -> Any:
        return self.get_value(raw_value).postprocess(postprocess_args)

    def parse_arg(self, raw_type: type, arg: str) -> Any:
        value_type = self.get_type(raw_type, use_default=False)
        if value_type is not None:
            return value_type.parse_arg(raw_type, arg)
        return raw_type(arg)

    def iter_subvalues(self, raw_value: Any) -> Iterator["Value"]:
        return self.get_value(raw_value).iter_subvalues()

    def custom_codec(self, type_name: str) -> Optional[type]:
        """The registered Value class of type_name if it serializes in its own way (recorded
        values of that type are read back through its deserialize), else None."""
        cls = self._type_name2value_type.get(type_name)
        if cls is not None and _overrides(cls, "deserialize"):
            return cls
        return None


_type_registry = TypeRegistry()

NOT_CUSTOM = object()  # custom_deserialize: the type name has no codec of its own
_SERIALIZERS: dict = {}  # type -> serializer or None (custom_serializer's memo)


def custom_serializer(raw_type: type) -> Optional[Callable]:
    """For a type whose registered Value or ProxyValue class serializes in its own way: a
    function obj -> (bytes, format, type name) as upstream records it; else None. The
    recorder asks only for values its native codec does not hold."""
    try:
        return _SERIALIZERS[raw_type]
    except KeyError:
        pass
    registry = _type_registry
    value_type = registry.get_type(raw_type, use_default=False)
    fn = None
    if value_type is not None and _overrides(value_type, "serialize"):
        type_name = registry.get_type_name(raw_type)

        def fn(obj, type_name=type_name):
            value = registry.get_value(obj)
            fmt = value.get_serialization_format()
            return value.serialize(), ("pickle" if fmt == MIME_TYPE_PICKLE else fmt), type_name

    _SERIALIZERS[raw_type] = fn
    return fn


def custom_deserialize(type_name: str, data: bytes) -> Any:
    """The value of a recorded payload whose type deserializes in its own way (a class of
    this process's registry), else NOT_CUSTOM (the payload is a pickle)."""
    if type_name not in _type_registry._type_name2value_type:
        return NOT_CUSTOM
    cls = _type_registry.custom_codec(type_name)
    if cls is None:
        return NOT_CUSTOM
    return _type_registry.deserialize(type_name, data)


def get_type_registry() -> TypeRegistry:
    return _type_registry


def _overrides(cls: type, name: str) -> bool:
    """True if cls defines `name` somewhere below the base Value/ProxyValue classes."""
    for klass in cls.__mro__:
        if klass in _BASES:
            return False
        if name in klass.__dict__:
            return True
    return False


# Classes (or, for proxies, the plain types) whose values a task call pre- or post-processes
# (Handles fork as they go in and take the call as they come out): the engine walks a call's
# arguments / a task's result only while such a class exists.
PREPROCESS_TYPES: tuple = ()
POSTPROCESS_TYPES: tuple = ()


def _note_processing(cls) -> None:
    global PREPROCESS_TYPES, POSTPROCESS_TYPES
    if cls.__module__ == __name__:
        return  # the base classes and built-in proxies change nothing
    raw = cls.type if getattr(cls, "proxy", False) and getattr(cls, "type", None) is not None else cls
    if _overrides(cls, "preprocess") and raw not in PREPROCESS_TYPES:
        PREPROCESS_TYPES = PREPROCESS_TYPES + (raw,)
    if _overrides(cls, "postprocess") and raw not in POSTPROCESS_TYPES:
        POSTPROCESS_TYPES = POSTPROCESS_TYPES + (raw,)


class MetaValue(type):
    """Registers each Value class with the type registry as it is defined."""

    def __init__(cls, name, bases, dct, **kwargs):
        super().__init__(name, bases, dct, **kwargs)
        if not cls.__dict__.get("type_name"):
            raw = cls.__dict__.get("type")
            cls.type_name = get_raw_type_name(raw) if raw is not None else get_raw_type_name(cls)
        if getattr(cls, "register", True):
            _type_registry.register(cls)
        _note_processing(cls)


class Value(metaclass=MetaValue):
    """A value with its own hash, validity, serialization and pre/post-processing.

    Override `get_hash` (any string; see docs/engine.md for how non-hex hashes are
    stored), `is_valid` (a cached value that is no longer valid is recomputed),
    `serialize`/`deserialize` with `get_serialization_format`, `preprocess` (before a
    task receives it), `postprocess` (after a task returns it), `parse_arg` (command line)."""

    type_name: Optional[str] = None

    def __init__(self, *args, **kwargs):
        pass

    def is_valid(self) -> bool:
        return True

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return hash_tag_bytes("Value", data if data is not None else pickle_dumps(self))

    def __redun_hash__(self) -> str:
        return self.get_hash()

    def get_serialization_format(self) -> str:
        return MIME_TYPE_PICKLE

    def serialize(self) -> bytes:
        return pickle_dumps(self)

    @classmethod
    def deserialize(cls, raw_type: type, data: bytes) -> Any:
        return pickle_loads(data)

    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def preprocess(self, preprocess_args: dict) -> Any:
        return self

    def postprocess(self, postprocess_args: dict) -> Any:
        return self

    @classmethod
    def parse_arg(cls, raw_type: type, arg: str) -> Any:
        return cls(arg)

    def iter_subvalues(self) -> Iterator["Value"]:
        return iter(())


class ProxyValue(Value):
    """Value behaviour for a plain Python type (`type = TheClass`); wraps one instance."""

    proxy = True
    type: Any = None

    def __init__(self, instance: Any):
        self.instance = instance

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return hash_tag_bytes("Value", data if data is not None else pickle_dumps(self.instance))

    def serialize(self) -> bytes:
        return pickle_dumps(self.instance)

    def preprocess(self, preprocess_args: dict) -> Any:
        return self.instance

    def postprocess(self, postprocess_args: dict) -> Any:
        return self.instance

    def iter_subvalues(self) -> Iterator["Value"]:
        if isinstance(self.instance, Value):
            return
        for sub in iter_nested_value(self.instance):
            if isinstance(sub, Value):
                yield sub
                yield from sub.iter_subvalues()


_BASES = (Value, ProxyValue, object)


# The built-in types (defined in valuetypes.py, named redun.value.*), registered on import.
from .valuetypes import (  # noqa: E402,F401
    Bool, DatetimeType, EnumType, FileCache, Function, Set, function_type, is_unknown_function,
    make_unknown_function)
