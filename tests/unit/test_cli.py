"""`motionlora`'s command line starts in a moment: building it imports no machine-learning library;
each command imports what it runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "diffusers", "peft", "transformers", "mlflow", "kfp")


def test_help_lists_every_command_group_and_loads_no_ml_library():
    code = (
        "import contextlib, io, sys\n"
        "from motionlora.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        f"print(sorted(set({HEAVY!r}) & set(sys.modules)))\n"
        "print(out.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, _, help_text = done.stdout.partition("\n")
    assert loaded == "[]", f"building the command line imported {loaded}"
    for group in ("models", "data", "train", "generate", "evaluate", "registry", "export", "shapes"):
        assert f"    {group}" in help_text, (group, help_text)
