"""`motionlora export`: a motion adapter in the layout stock diffusers or peft loads."""

from __future__ import annotations

import argparse

_HOW = {"diffusers": "pipe.load_lora_weights(dir)", "peft": "PeftModel.from_pretrained(unet, dir)"}


def _export(args: argparse.Namespace) -> int:
    from motionlora.motion.export import export_adapter

    out = export_adapter(args.adapter, args.out, args.format)
    print(f"wrote {out} ({args.format}: {_HOW[args.format]})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `export` to the `motionlora` parser."""
    from motionlora.motion.export import FORMATS

    export = subparsers.add_parser("export", help="write a motion adapter for stock diffusers (load_lora_weights) or peft")
    export.add_argument("adapter", help="motion adapter folder (adapter_model.safetensors, adapter_config.json, motion.json)")
    export.add_argument("--format", required=True, choices=FORMATS, help="diffusers: pytorch_lora_weights.safetensors; "
                        "peft: PeftModel.from_pretrained layout")
    export.add_argument("--out", required=True, help="output folder")
    export.set_defaults(func=_export)
