"""`python -m resnet ...`: see resnet/cli.py."""

from resnet.cli import main

raise SystemExit(main())
