"""`python -m resnet ...`: see resnet/cli.py."""

from resnet.cli import main

# Guarded: worker processes re-import the main module by name, and must not run the CLI again.
if __name__ == "__main__":
    raise SystemExit(main())
