"""Configurable networks: ResNet encoder, MLP head, and the SimCLR model."""
from core.nn.networks.mlp import MLP
from core.nn.networks.resnet import ResNet
from core.nn.networks.simclr import SimCLR

__all__ = ["MLP", "ResNet", "SimCLR"]
