"""``python -m intricate ...``: the command line (see intricate.cli)."""

from .cli import main

raise SystemExit(main())
