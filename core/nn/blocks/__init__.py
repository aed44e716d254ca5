"""Small building blocks: normalization/activation by name, conv, linear, residual."""
from core.nn.blocks.conv import ConvBlock
from core.nn.blocks.linear import LinearBlock
from core.nn.blocks.registry import make_activation, make_norm
from core.nn.blocks.residual import BasicBlock

__all__ = ["BasicBlock", "ConvBlock", "LinearBlock", "make_activation", "make_norm"]
