"""``python -m atari_check {run,compare,plot,bench}``."""

from .cli import main

raise SystemExit(main())
