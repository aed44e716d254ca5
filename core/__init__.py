"""SimCLR tutorial library: augmentation, networks and the NT-Xent loss.

Nothing in ``core`` reads the training config: every module takes plain keyword
arguments so it can be built and tested on its own.
"""
