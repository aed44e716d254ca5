"""Helpers shared by the networks and the trainer."""
from core.nn.utils.configurable import Configurable

__all__ = ["Configurable"]
