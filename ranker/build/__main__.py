"""`python -m ranker.build [--data DIR] [--out DIR]`: the same as `ranker build`."""

import sys

from ranker.cli import main

raise SystemExit(main(["build", *sys.argv[1:]]))
