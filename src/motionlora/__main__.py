"""`python -m motionlora ...` (and `torchrun -m motionlora ...`) run the command-line interface."""

from motionlora.cli import main

raise SystemExit(main())
