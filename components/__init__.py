"""KFP lightweight components, one file per pipeline step.

Each is a thin wrapper: read its inputs, make one call into the `motionlora` library (imported
inside the function body, since KFP ships only the function's source to the container), write its
outputs. Anything worth testing lives in the library; the components are tested through
`component.python_func` and under `kfp.local`.

The container image is a compile-time setting: MOTIONLORA_IMAGE (default `motionlora:latest`,
built by `make image`). The image carries kfp itself, so KFP does not pip-install it at run time.
"""

from __future__ import annotations

import os
from typing import Callable

from kfp import dsl

IMAGE = os.environ.get("MOTIONLORA_IMAGE", "motionlora:latest")


def component(func: Callable) -> dsl.python_component.PythonComponent:
    """`dsl.component` with the project's image and no run-time pip installs."""
    return dsl.component(func, base_image=IMAGE, install_kfp_package=False)
