"""motionlora: customize the motion of a text-to-video diffusion model without its appearance."""

__version__ = "0.1.0"
