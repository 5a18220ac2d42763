"""`motionlora data ingest|preprocess`: thin argument parsing over the ingest and preprocess modules."""

from __future__ import annotations

import argparse
import sys

from motionlora.cli_args import parse_size


def _add_limits(parser: argparse.ArgumentParser) -> None:
    from motionlora.data.bounded import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS

    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="refuse clips whose frames have more pixels (width x height; checked before decoding)")
    parser.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES, help="refuse clips with more frames")


def _ingest(args: argparse.Namespace) -> int:
    from motionlora.data.ingest import IngestSettings, ingest
    from motionlora.data.sources import open_source

    settings = IngestSettings(
        concept=args.concept, prompt=args.prompt, min_clips=args.min_clips, min_frames=args.min_frames,
        min_size=args.min_size, frame_folder_fps=args.frame_folder_fps, max_pixels=args.max_pixels, max_frames=args.max_frames,
    )
    report = ingest(open_source(args.source, args.dvc_repo, args.dvc_rev), args.out, settings, progress=not args.quiet)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary())
    return 0


def _preprocess(args: argparse.Namespace) -> int:
    from motionlora.data.preprocess import PreprocessSettings, preprocess

    width, height = args.size
    settings = PreprocessSettings(
        frames=args.frames, width=width, height=height, fps=args.fps, sample=args.sample, crop=args.crop,
        shard_size=args.shard_size, vae_batch=args.vae_batch, previews=args.previews, max_pixels=args.max_pixels,
        max_frames=args.max_frames,
    )
    result = preprocess(args.dir, args.model, args.out, settings, device=args.device, progress=not args.quiet)
    print(result.summary())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `data ingest` and `data preprocess` to the `motionlora` parser."""
    from motionlora.data.decode import DEFAULT_FRAME_FOLDER_FPS
    from motionlora.data.frames import CROP_MODES, SAMPLE_MODES

    data = subparsers.add_parser("data", help="ingest and preprocess reference clips")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    ing = sub.add_parser("ingest", help="validate clips from a folder, URL or DVC path and copy the good ones")
    ing.add_argument("source", help="local folder or file, s3://, gs://, http(s):// URL, or a path in --dvc-repo")
    ing.add_argument("--out", required=True, help="output folder (manifest.jsonl, rejected.jsonl, clips/)")
    ing.add_argument("--concept", help="motion concept name recorded with every clip")
    ing.add_argument("--prompt", help="caption for clips without a sidecar .txt or captions.jsonl/csv entry")
    ing.add_argument("--min-clips", type=int, default=1, help="fail unless at least this many clips are good")
    ing.add_argument("--min-frames", type=int, default=2, help="reject clips with fewer frames")
    ing.add_argument("--min-size", type=int, default=16, help="reject clips whose width or height is smaller")
    ing.add_argument("--frame-folder-fps", type=float, default=DEFAULT_FRAME_FOLDER_FPS, help="frame rate of folders of frames")
    _add_limits(ing)
    ing.add_argument("--dvc-repo", help="git+DVC repository (path or URL) SOURCE is tracked in")
    ing.add_argument("--dvc-rev", help="git revision (tag, branch, commit) of --dvc-repo")
    ing.add_argument("--quiet", action="store_true", help="no progress bar")
    ing.set_defaults(func=_ingest)

    pre = sub.add_parser("preprocess", help="encode ingested clips to VAE latents and text embeddings")
    pre.add_argument("dir", help="an ingest output folder")
    pre.add_argument("--model", required=True, help="base model: local folder, hub id, s3:// or gs:// URL")
    pre.add_argument("--out", required=True, help="output folder (index.json, shards, previews)")
    pre.add_argument("--frames", type=int, required=True, help="frames per clip")
    pre.add_argument("--size", type=parse_size, required=True, help="WxH of the frames, e.g. 256x256")
    pre.add_argument("--fps", type=float, help="resample clips to this frame rate before sampling")
    pre.add_argument("--sample", choices=SAMPLE_MODES, default="uniform", help="uniform: spread over the clip; stride: first F frames")
    pre.add_argument("--crop", choices=CROP_MODES, default="center", help="center: keep aspect and crop; resize: stretch")
    pre.add_argument("--shard-size", type=int, default=64, help="clips per safetensors shard")
    pre.add_argument("--vae-batch", type=int, default=16, help="frames per VAE forward pass")
    pre.add_argument("--previews", type=int, default=4, help="clips to write preview gif/png for")
    _add_limits(pre)
    pre.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    pre.add_argument("--quiet", action="store_true", help="no progress bar")
    pre.set_defaults(func=_preprocess)
