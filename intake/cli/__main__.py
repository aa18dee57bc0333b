"""`python -m intake.cli`: the same as the `intake` command."""

from intake.cli.main import main

raise SystemExit(main())
