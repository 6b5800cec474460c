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


class Config:
    """Parsed redun.ini. `get(section, key, default)`; sections are strings like 'repos.foo'."""

    def __init__(self, text: str = DEFAULT_CONFIG, path: Optional[str] = None, *,
                 config_dict: Optional[dict] = None):
        """From redun.ini text, or (upstream's `Config(config_dict=...)`) from a two-level dict
        {section: {key: value}} as `get_config_dict()` returns."""
        self.path = path
        self.parser = configparser.ConfigParser(interpolation=_EnvInterpolation())
        self.parser.optionxform = str
        try:
            self.parser.read_string(text, source=path or "<config>")
            if config_dict:
                self.parser.read_dict({name: {k: str(v) for k, v in section.items()}
                                       for name, section in config_dict.items()}, source="<config_dict>")
        except configparser.Error as e:
            raise ConfigError(f"Cannot parse {path or 'config'}: {e}") from None

    def get_config_dict(self) -> dict:
        """{section: {key: raw value}}: `Config(config_dict=c.get_config_dict())` is the same config."""
        return {name: {k: self.parser.get(name, k, raw=True) for k in self.parser.options(name)}
                for name in self.parser.sections()}

    @classmethod
    def load(cls, config_dir: str) -> "Config":
        path = os.path.join(config_dir, CONFIG_FILENAME)
        try:
            with open(path) as f:
                return cls(f.read(), path)
        except FileNotFoundError:
            return cls(DEFAULT_CONFIG, path)
        except OSError as e:
            raise ConfigError(f"Cannot read {path}: {e.strerror}") from None

    def get(self, section: str, key: str, default=None):
        try:
            return self.parser.get(section, key)
        except (configparser.NoSectionError, configparser.NoOptionError):
            return default
        except configparser.Error as e:
            raise ConfigError(f"{self.path}: [{section}] {key}: {e}") from None

    def getint(self, section: str, key: str, default: int) -> int:
        raw = self.get(section, key)
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
