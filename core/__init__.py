"""The SimCLR tutorial's library, and the course built on it.

The library (what a practitioner imports): ``core.data`` (augmentation, datasets, samplers),
``core.nn`` (blocks, the ResNet/MLP builders, ``SimCLR``, the NT-Xent losses, optimizers,
checkpoints, devices, seeding, CPU threads), ``core.eval`` (features, kNN, the linear classifier,
t-SNE figures), ``core.files`` (output checks, atomic writes) and ``core.errors`` (input errors).
Its modules take plain keyword arguments, so each can be built and tested on its own; only
``train/`` reads the training config. The one exception is the original tutorial's form
``SimCLR(cfg)`` (or ``SimCLR(cfg.model)``), which reads the model section it is given.

The course (what students and instructors run): ``core.course.tasks`` (the table of tasks),
``core.course.task_regions`` (the task markers), ``core.course.grade`` (``python -m core.grade``),
``core.course.sandbox`` (each task's code in a process of its own, the tests in another) and
``core.course.starter`` (``python -m core.starter``: the student version and the Gradescope autograder).
"""
