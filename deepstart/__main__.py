"""`python -m deepstart ...` is the `deepstart` command (torchrun launches it this way)."""

import sys

from deepstart.cli import main

sys.exit(main())
