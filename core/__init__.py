"""SimCLR tutorial library: augmentation, networks and the NT-Xent loss.

Modules in ``core`` take plain keyword arguments, so each can be built and tested
on its own; only ``train/`` reads the training config. The one exception is the
original tutorial's form ``SimCLR(cfg)`` (or ``SimCLR(cfg.model)``), which reads
the model section it is given.
"""
