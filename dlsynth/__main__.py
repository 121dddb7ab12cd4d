"""``python -m dlsynth``: the ``dlsynth`` command."""

from dlsynth.apps.cli import main

raise SystemExit(main())
