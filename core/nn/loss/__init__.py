"""Losses."""
from core.nn.loss.nt_xent import NTXent

__all__ = ["NTXent"]
