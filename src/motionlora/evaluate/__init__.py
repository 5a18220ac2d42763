"""Evaluation: motion fidelity from point tracks (`metrics`), CLIP-based appearance and text metrics
(`clip`), ground-truth judges (`judges`), the runner (`run`), the evaluation step as one call (`job`),
its outputs and report.

Nothing is imported here: the registry reads `outputs` (file names) without loading torch."""
