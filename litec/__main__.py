"""`python -m litec`: the command line (see `litec.cli`)."""

from litec.cli import main

raise SystemExit(main())
