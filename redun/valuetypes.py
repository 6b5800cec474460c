"""The built-in value types of upstream's `redun.value`: argument parsing for bool, Enum and
datetime, stable hashes for sets, module-level functions as values, and FileCache.
Importable (and pickled) as redun.value.X; kept here so value.py stays the registry
and the base classes.
"""

import datetime
import importlib
import os
from enum import Enum
from typing import Any, Callable, Optional

from . import hashing
from .hashing import hash_bytes, hash_struct, hash_tag_bytes, pickle_dumps
from .utils import pickle_loads
from .value import InvalidValueError, ProxyValue


class Bool(ProxyValue):
    """bool arguments on the command line: true/false in any case."""

    __module__ = "redun.value"

    type = bool
    type_name = "builtins.bool"

    @classmethod
    def parse_arg(cls, raw_type: type, arg: str) -> Any:
        lowered = arg.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ValueError(f'Unknown bool "{arg}"')


class Set(ProxyValue):
    """Sets hash by their sorted items, tagged apart from lists."""

    __module__ = "redun.value"

    type = set
    type_name = "builtins.set"

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return hash_tag_bytes("Value.set", pickle_dumps(sorted(self.instance)))


class EnumType(ProxyValue):
    """Enum arguments on the command line: `green` or `Color.green`."""

    __module__ = "redun.value"

    type = Enum
    type_name = "enum.Enum"

    @classmethod
    def parse_arg(cls, raw_type: type, arg: str) -> Any:
        members = {item.name: item for item in raw_type}
        name = arg
        if "." in arg:
            enum_name, name = arg.split(".", 1)
            if enum_name != raw_type.__name__:
                name = None
        if name in members:
            return members[name]
        raise ValueError(f"{arg} is not a valid {raw_type.__name__}")


class DatetimeType(ProxyValue):
    """datetime arguments on the command line (ISO 8601 and the usual date spellings)."""

    __module__ = "redun.value"

    type = datetime.datetime
    type_name = "datetime.datetime"

    @classmethod
    def parse_arg(cls, raw_type: type, arg: str) -> datetime.datetime:
        try:
            return datetime.datetime.fromisoformat(arg)
        except ValueError:
            try:
                from dateutil.parser import parse as parse_date  # free-form dates, if installed
            except ImportError:
                raise ValueError(f"{arg!r} is not an ISO 8601 date/time") from None
            return parse_date(arg)


function_type = type(lambda: None)


def make_unknown_function(func_name: str) -> Callable:
    """A stand-in for a recorded function that cannot be imported any more."""

    def unknown_function(*args, **kwargs):
        raise ValueError(f"Function '{func_name}' cannot be found.")

    unknown_function.unknown_function = True
    return unknown_function


def is_unknown_function(func: Callable) -> bool:
    return getattr(func, "unknown_function", False)


class Function(ProxyValue):
    """Module-level Python functions as values: hashed by full name and source."""

    __module__ = "redun.value"

    type = function_type
    type_name = "builtins.function"

    def __init__(self, instance: Callable):
        super().__init__(instance)
        self.module = instance.__module__
        self.name = instance.__name__
        if not is_unknown_function(instance) and "<locals>" in instance.__qualname__:
            raise InvalidValueError("functions used as redun arguments or results must be defined globally.")
        self._hash = self._calc_hash()

    def __repr__(self) -> str:
        return f"<function {self.fullname}>"

    @property
    def fullname(self) -> str:
        return f"{self.module}.{self.name}"

    def _calc_hash(self) -> str:
        return hash_struct(["Value.function", self.fullname.encode("utf8"), "source",
                            hashing.get_task_source(self.instance)])

    def __getstate__(self) -> dict:
        return {"hash": self._hash, "module": self.module, "name": self.name}

    def __setstate__(self, state: dict) -> None:
        self._hash, self.module, self.name = state["hash"], state["module"], state["name"]
        try:
            self.instance = getattr(importlib.import_module(self.module), self.name)
        except (ImportError, AttributeError):
            self.instance = make_unknown_function(self.fullname)

    def get_hash(self, data: Optional[bytes] = None) -> str:
        return self._hash

    def is_valid(self) -> bool:
        return not is_unknown_function(self.instance)

    def serialize(self) -> bytes:
        return pickle_dumps(self)

    @classmethod
    def deserialize(cls, raw_type: Any, data: bytes) -> Any:
        return pickle_loads(data).instance

    @classmethod
    def parse_arg(cls, raw_type: type, arg: str) -> Any:
        module_name, _, func_name = arg.rpartition(".")
        if not module_name:
            raise ValueError(f"Unexpected format for function name: {arg}")
        try:
            return getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError):
            raise ValueError(f"Function not found: {arg}") from None


class FileCache(ProxyValue):
    """Base of proxies whose serialized data goes to a file under `base_path` (named by the
    data's hash); only the file name is recorded. A deleted file makes the value invalid."""

    __module__ = "redun.value"

    base_path = "."

    def _serialize(self) -> bytes:
        return pickle_dumps(self.instance)

    @classmethod
    def _deserialize(cls, data: bytes) -> Any:
        return pickle_loads(data)

    def serialize(self) -> bytes:
        from .file import File

        data = self._serialize()
        filename = os.path.join(self.base_path, hash_bytes(data))
        File(filename).write(data, mode="wb")
        return filename.encode("utf8")

    @classmethod
    def deserialize(cls, raw_type: type, filename: bytes) -> Any:
        from .file import File

        file = File(filename.decode("utf8"))
        if not file.exists():
            raise InvalidValueError(f"{file.path} is gone")
        return cls._deserialize(file.read("rb"))
