"""vcam: real-time background removal for video calls, on the CPU."""

__version__ = "0.1.0"
