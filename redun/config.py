"""redun.ini: where the config dir is, how it is parsed, the default template.

Same rules as upstream: `-c DIR`, else $REDUN_CONFIG, else the first `.redun`
walking up from the cwd, else `./.redun`. Keys are case-sensitive, `${VAR}`
falls back to the environment, dotted section names nest ([repos.foo]).
"""

import configparser
import os
from typing import Optional

from .errors import ConfigError

CONFIG_FILENAME = "redun.ini"
DEFAULT_CONFIG = """\
# redun configuration.

[backend]
db_uri = sqlite:///redun.db

[executors.default]
type = local
max_workers = 20
"""


class _EnvInterpolation(configparser.ExtendedInterpolation):
    """${VAR} from the same section, else from the environment."""

    def before_get(self, parser, section, option, value, defaults):
        if "$" not in value:
            return value
        try:
            return super().before_get(parser, section, option, value, defaults)
        except (configparser.InterpolationMissingOptionError, configparser.InterpolationSyntaxError):
            return os.path.expandvars(value)


def find_config_dir(explicit: Optional[str] = None, cwd: Optional[str] = None) -> str:
    if explicit:
        return os.path.abspath(explicit)
    env = os.environ.get("REDUN_CONFIG")
    if env:
        return os.path.abspath(env)
    here = os.path.abspath(cwd or os.getcwd())
    while True:
        cand = os.path.join(here, ".redun")
        if os.path.isdir(cand):
            return cand
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return os.path.join(os.path.abspath(cwd or os.getcwd()), ".redun")


_NO_KEY = object()  # Config.get's key was not given


class Config:
    """Parsed redun.ini, with upstream's API as well as this redun's.

    `Config()` is empty; `Config({"scheduler": {...}, "executors.default": {...}})` reads a
    dict (upstream's form), `Config(text)` the text of an ini file. Dotted section
    names nest: `config["executors"]["default"]["max_workers"]`,
    `config.get("scheduler", {})` (a section or the default). `config.get(section, key,
    default)` (or `value(...)`) reads one key. Keys are case-sensitive; `${VAR}` falls back
    to the environment."""

    def __init__(self, config_dict=None, configdir: Optional[str] = None, *, path: Optional[str] = None):
        self.path = path
        self._configdir = configdir if configdir is not None else (os.path.dirname(path) if path else None)
        self.parser = configparser.ConfigParser(interpolation=_EnvInterpolation())
        self.parser.optionxform = str
        self._sections: dict = {}
        if isinstance(config_dict, str):
            self.read_string(config_dict)
        elif config_dict:
            self.read_dict(config_dict)

    @classmethod
    def load(cls, config_dir: str) -> "Config":
        path = os.path.join(config_dir, CONFIG_FILENAME)
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            text = DEFAULT_CONFIG
        except OSError as e:
            raise ConfigError(f"Cannot read {path}: {e.strerror}") from None
        config = cls(path=path)
        config.read_string(text)
        return config

    # -- reading ---------------------------------------------------------------------
    def read_string(self, string: str) -> None:
        try:
            self.parser.read_string(string, source=self.path or "<config>")
        except configparser.Error as e:
            raise ConfigError(f"Cannot parse {self.path or 'config'}: {e}") from None
        self._sections = self._nest()

    def read_dict(self, config_dict: dict) -> None:
        """Sections from {dotted section name: {key: value}} (values become text, as in an ini)."""
        try:
            self.parser.read_dict({name: {k: str(v) for k, v in section.items()}
                                   for name, section in config_dict.items()}, source="<config_dict>")
        except configparser.Error as e:
            raise ConfigError(f"Cannot read config dict: {e}") from None
        self._sections = self._nest()

    def read_path(self, filename: str) -> None:
        try:
            with open(filename) as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"Cannot read {filename}: {e.strerror}") from None
        self.path = filename
        self._configdir = os.path.dirname(filename)
        self.read_string(text)

    def _nest(self) -> dict:
        """Dotted section names as nested dicts of sections ([a.b] -> {"a": {"b": section})."""
        nested: dict = {}
        for full in self.parser.sections():
            parts = full.split(".")
            ptr = nested
            for part in parts[:-1]:
                ptr = ptr.setdefault(part, {})
            ptr[parts[-1]] = self.parser[full]
        return nested

    @property
    def configdir(self) -> str:
        return self._configdir or os.getcwd()

    # -- upstream's mapping API ----------------------------------------------------------
    def __getitem__(self, section_name: str):
        return self._sections[section_name]

    def __setitem__(self, section_name: str, section) -> None:
        self._sections[section_name] = section

    def __contains__(self, section_name: str) -> bool:
        return section_name in self._sections

    def keys(self):
        return self._sections.keys()

    def items(self):
        return self._sections.items()

    def get_config_dict(self, replace_config_dir: Optional[str] = None) -> dict:
        """{dotted section name: {key: raw value}}: Config(config.get_config_dict()) is the same
        config. replace_config_dir replaces this config's directory inside values."""
        local_dir = self._configdir
        out = {}
        for name in self.parser.sections():
            values = {}
            for k in self.parser.options(name):
                v = self.parser.get(name, k, raw=True)
                if replace_config_dir is not None and local_dir:
                    v = v.replace(local_dir, replace_config_dir)
                values[k] = v
            out[name] = values
        return out

    # -- this redun's reading API --------------------------------------------------------
    def get(self, section: str, key=_NO_KEY, default=None):
        """get(section, key[, default]): one key of a section (text or default).
        get(section[, default]) with a non-text second argument, as upstream: the section
        (nested sections as dicts), or default."""
        if key is _NO_KEY or not isinstance(key, str):
            return self._sections.get(section, default if key is _NO_KEY else key)
        return self.value(section, key, default)

    def value(self, section: str, key: str, default=None):
        try:
            return self.parser.get(section, key)
        except (configparser.NoSectionError, configparser.NoOptionError):
            return default
        except configparser.Error as e:
            raise ConfigError(f"{self.path}: [{section}] {key}: {e}") from None

    def getint(self, section: str, key: str, default: int) -> int:
        raw = self.value(section, key)
        if raw is None:
            return default
        try:
            return int(float(raw))
        except ValueError:
            raise ConfigError(f"{self.path}: [{section}] {key} must be a number, not {raw!r}") from None

    def section(self, name: str) -> dict:
        if not self.parser.has_section(name):
            return {}
        return {k: self.parser.get(name, k) for k in self.parser.options(name)}

    def subsections(self, prefix: str) -> list:
        """Names X of every [prefix.X] section, e.g. subsections('repos')."""
        out = []
        for s in self.parser.sections():
            if s.startswith(prefix + "."):
                out.append(s[len(prefix) + 1 :])
        return out

