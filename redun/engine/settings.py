"""The `[scheduler]` section of redun.ini, read once per Scheduler (upstream's keys).

- ignore_warnings: space-separated warning names to silence (`namespace`).
- job_status_interval: seconds between JOB STATUS tables while jobs run (default 20;
  0 or less: only the final table).
- context / context_file: the execution context, a JSON object (inline, or in a file
  relative to the config directory); both at once is an error.
- setup_scheduler: read by the CLI (redun/cli/scheduler_setup.py).
- boto_config: botocore Config arguments (JSON) for S3 clients.
Keys upstream has and this redun does not (federated_configs) are refused with a
clear error; other unknown keys get a warning naming them.
"""

import json
import os
from typing import Optional

from ..errors import ConfigError

KNOWN_KEYS = ("ignore_warnings", "job_status_interval", "context", "context_file", "setup_scheduler", "boto_config")
UNSUPPORTED_KEYS = {
    "federated_configs": "federated tasks are not supported by this redun",
}


class SchedulerSettings:
    def __init__(self, config, job_status_interval: Optional[int] = None):
        section = config.section("scheduler") if hasattr(config, "section") else {}
        self.path = getattr(config, "path", None) or "redun.ini"
        for key in section:
            if key in UNSUPPORTED_KEYS:
                raise ConfigError(f"{self.path}: [scheduler] {key}: {UNSUPPORTED_KEYS[key]}.")
            if key not in KNOWN_KEYS:
                from ..logging import logger

                logger.warning(f"{self.path}: unknown key [scheduler] {key} (known: {', '.join(KNOWN_KEYS)})")
        self.ignore_warnings = set((section.get("ignore_warnings") or "").split())
        if job_status_interval is None:
            raw = section.get("job_status_interval", "20")
            try:
                job_status_interval = int(raw)
            except ValueError:
                raise ConfigError(f"{self.path}: [scheduler] job_status_interval must be an integer (seconds), "
                                  f"not {raw!r}") from None
        self.job_status_interval = job_status_interval if job_status_interval > 0 else None
        self.context = self._context(section, config)
        boto = section.get("boto_config")
        if boto:
            from ..objects.s3 import set_boto_config

            try:
                set_boto_config(json.loads(boto))
            except ValueError as e:
                raise ConfigError(f"{self.path}: [scheduler] boto_config is not valid JSON: {e}") from None

    def _context(self, section: dict, config) -> dict:
        text = section.get("context")
        context_file = section.get("context_file")
        if text and context_file:
            raise ConfigError(f"{self.path}: [scheduler] has both context and context_file; keep one.")
        where = "[scheduler] context"
        if context_file:
            if not os.path.isabs(context_file):
                base = os.path.dirname(os.path.abspath(config.path)) if getattr(config, "path", None) else "."
                context_file = os.path.join(base, context_file)
            where = f"[scheduler] context_file {context_file}"
            try:
                with open(context_file) as f:
                    text = f.read()
            except OSError as e:
                raise ConfigError(f"{self.path}: {where}: {e.strerror}") from None
        if not text:
            return {}
        try:
            context = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{self.path}: {where} is not valid JSON: {e}") from None
        if not isinstance(context, dict):
            raise ConfigError(f"{self.path}: {where} must be a JSON object, not {type(context).__name__}.")
        return context
