"""Small random models built offline, and diffusers' stock pipelines, for tests, smoke runs and
benchmarks. The product does not use them: only `motionlora models tiny` (a smoke-run model) and
the shapes world (which pretrains its text encoder from the same small CLIP parts) import them."""
