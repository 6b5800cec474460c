"""State shared by every command: which config dir and repo the user chose."""

from typing import Optional

from ..config import Config, find_config_dir
from ..errors import ConfigError


class CliContext:
    """Global options of one command line (a plain class: no dataclasses import on start-up)."""

    def __init__(self, config_dir: Optional[str] = None, repo_name: str = "default", log_level: str = "INFO",
                 setup: tuple = ()):
        self.config_dir = config_dir
        self.repo_name = repo_name
        self.log_level = log_level
        self.setup = setup
        self._repo = None

    def __repr__(self) -> str:
        return f"CliContext(config_dir={self.config_dir!r}, repo_name={self.repo_name!r})"

    @property
    def local_config_dir(self) -> str:
        """The local config dir (-c, $REDUN_CONFIG, or .redun found from cwd)."""
        return find_config_dir(self.config_dir)

    def local_config(self) -> Config:
        return Config.load(self.local_config_dir)

    def run_config(self) -> Config:
        """The config of the repository commands that run tasks record to (it must be local)."""
        loc = self.repo_location()
        if "://" in loc:
            raise ConfigError(f"Repository '{self.repo_name}' is remote ({loc}); running tasks needs a local "
                              "repository.")
        return Config.load(loc)

    def repo_location(self, name: Optional[str] = None) -> str:
        """Where repo NAME lives: the local config dir for 'default', else [repos.NAME] config_dir."""
        name = name or self.repo_name
        if name == "default":
            return self.local_config_dir
        loc = self.local_config().get(f"repos.{name}", "config_dir")
        if not loc:
            raise ConfigError(f"Unknown repository: {name}")
        return loc

    def open_repo(self, create: bool = False, beside_upstream: bool = False):
        """The selected repository as a local Repo (remote repos: see redun.repo.remotes)."""
        if self._repo is None:
            from ..repo.repository import Repo

            loc = self.repo_location()
            if "://" in loc:
                if create:
                    raise ConfigError(
                        f"Repository '{self.repo_name}' is remote ({loc}); this command needs a local repository."
                    )
                from ..repo.remotes import open_location  # a local mirror, brought up to date by a pull

                self._repo = open_location(loc, self.local_config_dir, self.repo_name)
                return self._repo
            # beside_upstream: `db import-upstream` creates the repository next to an upstream redun.db
            self._repo = Repo.open(loc, create=create, beside_upstream=beside_upstream)
        return self._repo
